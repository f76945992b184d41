import { PlatformError, type Sink, type SinkDefinition, type SinkDeps } from '../core/index.js';
import type { ActionDeps } from './runtime/deps.js';

/**
 * The catalogue of action kinds as a lookup: `actions/index.ts` lists every definition in one
 * explicit array (no import side effects); adding an action kind is one folder plus one line
 * there. `D` is what `build` hands each definition's `create` (the rules service's ActionDeps).
 */
export class SinkRegistry<D extends SinkDeps = ActionDeps> {
  readonly #definitions = new Map<string, SinkDefinition<unknown, D>>();

  constructor(definitions: readonly SinkDefinition<any, D>[]) {
    for (const def of definitions) {
      if (this.#definitions.has(def.type)) throw new PlatformError('CONFIG_INVALID', `action kind "${def.type}" is registered twice`);
      this.#definitions.set(def.type, def);
    }
  }

  get(type: string): SinkDefinition<unknown, D> | undefined {
    return this.#definitions.get(type);
  }

  /** Every definition, in the catalogue's order. */
  definitions(): SinkDefinition<unknown, D>[] {
    return [...this.#definitions.values()];
  }

  /**
   * Validates and normalises an action's parameters without building it (`kiot rules check`,
   * and before a rule's templates are compiled). Throws CONFIG_INVALID.
   */
  validate(type: string, rawConfig: unknown): unknown {
    const def = this.#require(type);
    try {
      return def.config.parse(rawConfig);
    } catch (err) {
      if (err instanceof PlatformError) throw err;
      throw new PlatformError('CONFIG_INVALID', `action "${type}": ${(err as Error).message}`, { cause: err });
    }
  }

  /** Builds a sink from raw parameters. Throws CONFIG_INVALID for an unknown kind or bad parameters. */
  build(type: string, rawConfig: unknown, deps: D): Sink {
    const def = this.#require(type);
    return def.create(this.validate(type, rawConfig), deps) as Sink;
  }

  #require(type: string): SinkDefinition<unknown, D> {
    const def = this.#definitions.get(type);
    if (!def) {
      const known = [...this.#definitions.keys()].join(', ');
      throw new PlatformError('CONFIG_INVALID', `unknown action "${type}" (known: ${known})`, { details: { type } });
    }
    return def;
  }
}
