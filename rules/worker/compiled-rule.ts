/**
 * A rule ready to run: its SQL compiled once, the substitution templates of every action
 * parameter compiled once, and its actions built from the registry. Nothing here parses per
 * message.
 */
import { PlatformError, type ActionRecord, type Logger } from '../../core/index.js';
import { ActionRunner, RuleActions, type ActionDeps, type BoundAction, type RuleCounters, type DeadLetterWriter, type RetryPolicy, type SinkRegistry } from '../../actions/index.js';
import type { ActionModel, RuleModel } from '../files/index.js';
import { compileSql, compileTemplate, type CompiledSql, type SqlInput, type SqlServices, type SqlValue } from '../sql/index.js';

type Vars = ReadonlyMap<string, SqlValue> | undefined;
type Params = Readonly<Record<string, unknown>>;

/** Renders one action's parameters for a message; constant parameters cost nothing. */
export interface ParamRenderer {
  readonly isAsync: boolean;
  render(input: SqlInput, vars: Vars): Params | Promise<Params>;
}

type Node = (input: SqlInput, vars: Vars) => unknown;

/** Compiles every string with `${` in `value` (recursively); returns undefined for a constant. */
function compileValue(value: unknown, source: string, opts: TemplateOptions, flags: { async: boolean }): Node | undefined {
  if (typeof value === 'string') {
    if (!value.includes('${')) return undefined;
    const t = compileTemplate(value, {
      source,
      sqlVersion: opts.sqlVersion,
      ...(opts.services ? { services: opts.services } : {}),
      ...(opts.accountId !== undefined ? { accountId: opts.accountId } : {}),
    });
    if (!t.isTemplate) return undefined;
    if (t.isAsync) flags.async = true;
    return (input, vars) => t.render(input, vars);
  }
  if (Array.isArray(value)) {
    const items = value.map((v, i) => compileValue(v, `${source}[${i}]`, opts, flags));
    if (items.every((i) => i === undefined)) return undefined;
    return (input, vars) => value.map((v, i) => (items[i] ? items[i]!(input, vars) : v));
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => [k, v, compileValue(v, `${source}.${k}`, opts, flags)] as const);
    if (entries.every(([, , n]) => n === undefined)) return undefined;
    // A key named __proto__ (a rule's JSON can have one) must become an own property, which only
    // defineProperty makes (and an object literal would set the prototype instead); every other
    // object renders as one generated literal, far cheaper per message (objectRenderer).
    if (entries.some(([k]) => k === '__proto__')) {
      return (input, vars) => {
        const out: Record<string, unknown> = {};
        for (const [k, v, n] of entries) Object.defineProperty(out, k, { value: n ? n(input, vars) : v, enumerable: true, writable: true, configurable: true });
        return out;
      };
    }
    return objectRenderer(entries);
  }
  return undefined;
}

/**
 * Renders an object of parameters as one object literal built once with `new Function` (as
 * rules/sql/compile.ts builds rules): its keys are constants in the code, so every rendering is
 * one allocation with one hidden class, where assigning key after key by name cost a keyed store
 * and a map transition per key and record. Keys are written as JSON string literals, which are
 * JavaScript string literals; `__proto__` never gets here (compileValue's defineProperty path).
 */
function objectRenderer(entries: readonly (readonly [string, unknown, Node | undefined])[]): Node {
  const nodes = entries.map(([, , n]) => n);
  const constants = entries.map(([, v]) => v);
  const fields = entries.map(([k, , n], i) => `${JSON.stringify(k)}: ${n ? `nodes[${i}](input, vars)` : `constants[${i}]`}`);
  const body = `return (input, vars) => ({ ${fields.join(', ')} });`;
  // One factory per source, as rules/sql/compile.ts keeps its own: a rule compiled again starts warm.
  let factory = renderFactories.get(body);
  if (!factory) {
    if (renderFactories.size >= MAX_RENDER_FACTORIES) renderFactories.clear();
    factory = new Function('nodes', 'constants', body) as RenderFactory;
    renderFactories.set(body, factory);
  }
  return factory(nodes, constants);
}

type RenderFactory = (nodes: readonly (Node | undefined)[], constants: readonly unknown[]) => Node;
const renderFactories = new Map<string, RenderFactory>();
const MAX_RENDER_FACTORIES = 1_000;

interface TemplateOptions {
  readonly sqlVersion: string;
  readonly services: SqlServices | undefined;
  readonly accountId: string | undefined;
}

/** Resolves the promises an async template left in a rendered value. */
async function settle(value: unknown): Promise<unknown> {
  if (value instanceof Promise) return value;
  if (Array.isArray(value)) return Promise.all(value.map(settle));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: await settle(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

export function compileParams(params: Params, source: string, opts: TemplateOptions): ParamRenderer {
  const flags = { async: false };
  const node = compileValue(params, source, opts, flags);
  if (!node) return { isAsync: false, render: () => params };
  if (!flags.async) return { isAsync: false, render: (input, vars) => node(input, vars) as Params };
  return { isAsync: true, render: (input, vars) => settle(node(input, vars)) as Promise<Params> };
}

export interface CompileRuleContext {
  readonly registry: SinkRegistry;
  /** Passed to every sink's `create`. */
  readonly sinkDeps: ActionDeps;
  readonly retry: RetryPolicy;
  readonly deadLetter: DeadLetterWriter;
  readonly services?: SqlServices;
  /** What accountid() returns in the rule's SQL and templates (`--account-id`). */
  readonly accountId?: string;
  readonly logger: Logger;
}

export interface CompiledAction {
  readonly type: string;
  readonly renderer: ParamRenderer;
}

/** A running rule. */
export class CompiledRule {
  /** Messages handed to the actions and not yet handled. */
  inFlight = 0;
  retired = false;

  constructor(
    readonly model: RuleModel,
    readonly sql: CompiledSql,
    readonly actions: readonly CompiledAction[],
    readonly errorAction: CompiledAction | undefined,
    readonly runtime: RuleActions,
  ) {
    this.#async = actions.some((a) => a.renderer.isAsync);
  }

  /** Whether an action's parameters render asynchronously (a template calls an external function). */
  readonly #async: boolean;

  get name(): string {
    return this.model.name;
  }

  /** The records of one fired message, one per action; a Promise when a template is async. */
  records(input: SqlInput, vars: Vars, base: Omit<ActionRecord, 'params' | 'output'>, output: unknown): ActionRecord[] | Promise<ActionRecord[]> {
    if (this.#async) return Promise.all(this.actions.map((a) => a.renderer.render(input, vars))).then((params) => params.map((p) => actionRecord(base, output, p)));
    const records: ActionRecord[] = [];
    for (const a of this.actions) records.push(actionRecord(base, output, a.renderer.render(input, vars) as Params));
    return records;
  }


  /** Retires the rule: closes its actions once its messages in flight are handled. */
  retire(): Promise<void> {
    this.retired = true;
    return this.inFlight === 0 ? this.runtime.close() : this.runtime.idle().then(() => this.runtime.close());
  }
}

/** Spelled out rather than spread from `base`: one object shape for every record, built per fired message and action. */
const actionRecord = (base: Omit<ActionRecord, 'params' | 'output'>, output: unknown, params: Params): ActionRecord => ({
  output,
  params,
  ruleName: base.ruleName,
  topic: base.topic,
  clientId: base.clientId,
  messageId: base.messageId,
  payload: base.payload,
  receivedAt: base.receivedAt,
});

const at = (a: ActionModel): string => `${a.source.file}:${a.source.line}:${a.source.column}`;

/**
 * Compiles a rule and builds its actions. Throws a PlatformError whose message starts with
 * `file:line:column:` (RULES_SQL_*, CONFIG_INVALID) for the first problem found.
 */
export function compileRule(model: RuleModel, c: CompileRuleContext, counters?: RuleCounters): CompiledRule {
  const { file, line, column } = model.sqlSource;
  // Padded so that positions in errors are positions in the rule's file (as `kiot rules check`).
  const padded = '\n'.repeat(Math.max(0, line - 1)) + ' '.repeat(Math.max(0, column - 1)) + model.sql;
  const sql = compileSql(padded, {
    source: file,
    sqlVersion: model.sqlVersion,
    ruleName: model.name,
    ...(c.services ? { services: c.services } : {}),
    ...(c.accountId !== undefined ? { accountId: c.accountId } : {}),
  });
  const opts: TemplateOptions = { sqlVersion: model.sqlVersion, services: c.services, accountId: c.accountId };
  const prepare = (a: ActionModel): CompiledAction => {
    try {
      // Templates are compiled over the parsed parameters, so every record's params have the
      // kind's own (normalised) shape and a sink reads them one way: `record.params.table_name`.
      const parsed = c.registry.validate(a.type, a.params) as Params;
      return { type: a.type, renderer: compileParams(parsed, `${at(a)}: ${a.type}`, opts) };
    } catch (err) {
      if (err instanceof PlatformError && err.code !== 'CONFIG_INVALID') throw err;
      throw new PlatformError('CONFIG_INVALID', `${at(a)}: ${(err as Error).message}`, { cause: err });
    }
  };
  const actions = model.actions.map(prepare);
  const errorAction = model.errorAction ? prepare(model.errorAction) : undefined;
  const built: BoundAction[] = [];
  const bind = (a: ActionModel, i: number | 'error'): BoundAction => {
    const sink = c.registry.build(a.type, a.params, c.sinkDeps);
    const def = c.registry.get(a.type)!;
    const bound: BoundAction = {
      kind: def,
      runner: new ActionRunner({ sink, name: `${model.name}/${i === 'error' ? 'error' : i}:${a.type}`, retry: c.retry, logger: c.logger, ...(def.maxBatchSize ? { maxBatchSize: def.maxBatchSize } : {}) }),
    };
    built.push(bound);
    return bound;
  };
  try {
    const runtime = new RuleActions(
      model.name,
      model.actions.map((a, i) => bind(a, i)),
      model.errorAction ? bind(model.errorAction, 'error') : undefined,
      c.deadLetter,
      counters,
    );
    return new CompiledRule(model, sql, actions, errorAction, runtime);
  } catch (err) {
    for (const b of built) void b.runner.close();
    throw err;
  }
}
