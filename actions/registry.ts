import { PlatformError, type Sink, type SinkDefinition, type SinkDeps } from '../core/index.js';

/**
 * The catalogue of action kinds. `actions/index.ts` exports every definition as one explicit
 * array (no import side effects); adding an action kind is one module plus one line there.
 */
export class SinkRegistry {
  readonly #definitions = new Map<string, SinkDefinition<unknown>>();

  constructor(definitions: readonly SinkDefinition<any>[]) {
    for (const def of definitions) {
      if (this.#definitions.has(def.type)) throw new PlatformError('CONFIG_INVALID', `action kind "${def.type}" is registered twice`);
      this.#definitions.set(def.type, def);
    }
  }

  get(type: string): SinkDefinition<unknown> | undefined {
    return this.#definitions.get(type);
  }

  types(): string[] {
    return [...this.#definitions.keys()];
  }

  /** Validates an action's parameters without building it (for `kiot rules check`). */
  validate(type: string, rawConfig: unknown): unknown {
    const def = this.#require(type);
    try {
      return def.config.parse(rawConfig);
    } catch (err) {
      if (err instanceof PlatformError) throw err;
      throw new PlatformError('CONFIG_INVALID', `action "${type}": ${(err as Error).message}`, { cause: err });
    }
  }

  build(type: string, rawConfig: unknown, deps: SinkDeps): Sink {
    const def = this.#require(type);
    return def.create(this.validate(type, rawConfig), deps);
  }

  #require(type: string): SinkDefinition<unknown> {
    const def = this.#definitions.get(type);
    if (!def) {
      const known = [...this.#definitions.keys()].join(', ');
      throw new PlatformError('CONFIG_INVALID', `unknown action "${type}" (known: ${known})`, { details: { type } });
    }
    return def;
  }
}
