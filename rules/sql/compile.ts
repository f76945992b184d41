/**
 * Compiles an IoT SQL AST, once, into a JavaScript function.
 *
 * The compiler generates JavaScript source and builds it with `new Function`, because a
 * closure tree costs a call per node per message and the benchmark holds kiot to 0.85x of a
 * hand-written function. No user text ever becomes code: every string that reaches the source
 * (field names, aliases, string literals, keys) is written with JSON.stringify, numbers are
 * written only when finite, and everything else (functions, arrays of keys, non-finite
 * numbers) is passed in through arrays that the source indexes by position. Variable names
 * become `v0, v1, ...`, never the user's spelling. `compile.test.ts` tries injection through
 * each of these.
 *
 * Per message the generated function parses nothing but the payload (at most once, and only if
 * the rule reads it), walks no tree, and leaves Undefined members out of its output.
 */
import { PlatformError } from '../../core/errors.js';
import type { BinaryOperator, Expr, Position, Projection, Query, Statement } from './ast.js';
import type { DirectFunction, RuntimeFunction, SqlRuntime, SqlValue } from './runtime.js';
import { sqlError } from './sql-error.js';
import { topicFilterProblem } from '../../core/topic-filter.js';

export type SqlVersion = '2016-03-23' | '2015-10-08' | 'beta';
export const SQL_VERSIONS: readonly SqlVersion[] = ['2016-03-23', '2015-10-08', 'beta'];
export const DEFAULT_SQL_VERSION: SqlVersion = '2016-03-23';

/** One message as a rule sees it. */
export interface SqlInput {
  /** The MQTT topic the message was published to (a Basic Ingest prefix is stripped for topic()). */
  readonly topic: string;
  /** The raw payload. Parsed as JSON only if the rule reads it; not JSON means binary. */
  readonly payload?: Buffer | Uint8Array | string;
  /** The payload already parsed; used instead of `payload` when given. */
  readonly json?: unknown;
  /** Undefined when the message did not arrive over MQTT (then clientid() is "n/a"). */
  readonly clientId?: string;
  readonly principal?: string;
  readonly sourceIp?: string;
  readonly traceId?: string;
  readonly messageId?: string;
  /** When the message was received, in ms since the epoch; defaults to the evaluation time. */
  readonly timestamp?: number;
  /** MQTT 5 properties for get_mqtt_property(). */
  readonly mqtt?: unknown;
}

/** What a firing rule produced: its output and the values of its SET variables (for templates). */
export interface SqlResult {
  readonly output: SqlValue;
  readonly variables: ReadonlyMap<string, SqlValue>;
}

export interface CompileContext {
  readonly runtime: SqlRuntime;
  readonly source: string;
  readonly sqlVersion: SqlVersion;
  /** Services for functions such as get_thing_shadow; the runtime's default when absent. */
  readonly services?: unknown;
  /** What accountid() returns; the function library's default when absent. */
  readonly accountId?: string;
  /**
   * For a statement: whether a message's topic triggers the rule (its FROM filter, Basic
   * Ingest). The generated function tests it first, so that a rule never fires for a topic it
   * does not match, whichever entry point evaluates it (DESIGN.md, `kiot/sql`).
   */
  readonly matchTopic?: (topic: string) => boolean;
}

/** The generated function's shape: returns NOT_FIRED when WHERE is not true. */
type Program = (input: SqlInput, vars: Map<string, SqlValue> | undefined) => SqlValue | Promise<SqlValue>;

/** Marks "the rule did not fire", distinct from an Undefined output. */
export const NOT_FIRED: unique symbol = Symbol('kiot.sql.notFired');

/** Stands for "the payload is not JSON" in the per-message payload cache. */
const BINARY: unique symbol = Symbol('kiot.sql.binary');

function parseRaw(input: SqlInput): unknown {
  const raw = input.payload;
  if (raw === undefined || raw.length === 0) return BINARY;
  try {
    const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
    return JSON.parse(text);
  } catch {
    return BINARY;
  }
}

/**
 * One message shared by every rule that evaluates it: the payload is parsed on first use and
 * the result kept, so a message that N rules read is parsed once. The rules worker wraps each
 * message in one of these ({@link createSqlMessage}) before evaluating the matching rules.
 */
export class SqlMessage implements SqlInput {
  readonly topic: string;
  readonly payload?: Buffer | Uint8Array | string;
  readonly json?: unknown;
  readonly clientId?: string;
  readonly principal?: string;
  readonly sourceIp?: string;
  readonly traceId?: string;
  readonly messageId?: string;
  readonly timestamp?: number;
  readonly mqtt?: unknown;
  #parsed: unknown = undefined;
  #done = false;
  constructor(input: SqlInput) {
    this.topic = input.topic;
    this.payload = input.payload;
    this.json = input.json;
    this.clientId = input.clientId;
    this.principal = input.principal;
    this.sourceIp = input.sourceIp;
    this.traceId = input.traceId;
    this.messageId = input.messageId;
    // Fixed once per message so that every rule's timestamp() agrees.
    this.timestamp = input.timestamp ?? Date.now();
    this.mqtt = input.mqtt;
  }
  /** The parsed payload (or the binary marker), computed once. */
  parsedPayload(): unknown {
    if (!this.#done) {
      this.#parsed = this.json !== undefined ? (Buffer.isBuffer(this.json) ? BINARY : this.json) : parseRaw(this);
      this.#done = true;
    }
    return this.#parsed;
  }
}

/** Wraps a message so that every rule evaluating it shares one parse of the payload. */
export const createSqlMessage = (input: SqlInput): SqlMessage => (input instanceof SqlMessage ? input : new SqlMessage(input));

/**
 * The payload of `input` as a SQL value, or BINARY for a payload that is not JSON. A
 * {@link SqlMessage} parses once for all rules; a plain input is parsed by each evaluation.
 */
export function payloadOf(input: SqlInput): unknown {
  const json = input.json;
  if (json !== undefined) return Buffer.isBuffer(json) ? BINARY : json;
  if (input instanceof SqlMessage) return input.parsedPayload();
  return parseRaw(input);
}

/** The raw payload bytes (for `*` on a binary payload and for functions that read bytes). */
export function payloadBytes(input: SqlInput): Buffer {
  const raw = input.payload;
  if (raw === undefined) {
    return input.json === undefined ? Buffer.alloc(0) : Buffer.isBuffer(input.json) ? input.json : Buffer.from(JSON.stringify(input.json) ?? '', 'utf8');
  }
  if (typeof raw === 'string') return Buffer.from(raw, 'utf8');
  return Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** The SqlContext of the contract, built lazily once per evaluation when a function needs it. */
class MessageContext {
  readonly topic: string;
  readonly clientId: string | undefined;
  readonly principal: string | undefined;
  readonly sourceIp: string | undefined;
  readonly traceId: string | undefined;
  readonly messageId: string | undefined;
  readonly timestamp: number;
  readonly mqtt: unknown;
  #payload: Buffer | undefined;
  constructor(
    private readonly input: SqlInput,
    readonly services: unknown,
    readonly accountId: string | undefined,
    readonly sqlVersion: string,
  ) {
    // The raw topic: topic() itself drops a Basic Ingest prefix (functions/context.ts, ruleTopic).
    this.topic = input.topic;
    this.clientId = input.clientId;
    this.principal = input.principal;
    this.sourceIp = input.sourceIp;
    this.traceId = input.traceId;
    this.messageId = input.messageId;
    this.timestamp = input.timestamp ?? Date.now();
    this.mqtt = input.mqtt;
  }
  get payload(): Buffer {
    return (this.#payload ??= payloadBytes(this.input));
  }
}

// ---- helpers the generated code calls (passed in as `H`) ----

const isObj = (v: unknown): v is Record<string, SqlValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

const hasOwn = Object.prototype.hasOwnProperty;

/** Names that a plain object inherits: reading them needs an own-property check. */
const INHERITED = new Set(Object.getOwnPropertyNames(Object.prototype));

function member(o: unknown, key: string): SqlValue {
  if (!isObj(o)) return undefined;
  return hasOwn.call(o, key) ? o[key] : undefined;
}

function index(o: unknown, i: SqlValue): SqlValue {
  if (Array.isArray(o)) {
    if (typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < o.length) return o[i] as SqlValue;
    return undefined;
  }
  if (typeof i === 'string') return member(o, i);
  return undefined;
}

function truthy(v: unknown): boolean {
  return v === true || (typeof v === 'string' && v.toLowerCase() === 'true');
}

function defineKey(o: Record<string, SqlValue>, key: string, v: SqlValue): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
  else o[key] = v;
}

/** Sets `path` (an alias such as `a.b.c`) in `o`, creating or copying objects on the way. */
function setPath(o: Record<string, SqlValue>, path: readonly string[], v: SqlValue): void {
  let cur = o;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const next = hasOwn.call(cur, key) ? cur[key] : undefined;
    const child: Record<string, SqlValue> = isObj(next) ? { ...next } : {};
    defineKey(cur, key, child);
    cur = child;
  }
  defineKey(cur, path[path.length - 1]!, v);
}

function objectLiteral(keys: readonly string[], values: readonly SqlValue[]): SqlValue {
  const o: Record<string, SqlValue> = {};
  for (let i = 0; i < keys.length; i++) {
    const v = values[i];
    if (v !== undefined) defineKey(o, keys[i]!, v);
  }
  return o;
}

function arrayLiteral(values: SqlValue[]): SqlValue {
  for (let i = 0; i < values.length; i++) {
    if (values[i] === undefined) return values.filter((v) => v !== undefined);
  }
  return values;
}

function spreadRow(row: unknown): Record<string, SqlValue> {
  return isObj(row) ? { ...row } : {};
}

/**
 * Runs a nested query. Over an array it gives an array, one element per row, dropping rows that
 * give Undefined (iot-sql-nested-queries). Over an object it gives that one row's result itself,
 * not a one-element array: the guide's transform() example passes `(SELECT a, b FROM data2)` as
 * the Object argument and `(SELECT VALUE c FROM data2)` as the Array (iot-sql-functions,
 * transform). Over anything else, Undefined.
 */
function subquery(q: (row: SqlValue) => SqlValue, from: SqlValue): SqlValue {
  if (Array.isArray(from)) {
    const out: SqlValue[] = [];
    for (const row of from) {
      const v = q(row);
      if (v !== undefined) out.push(v);
    }
    return out;
  }
  if (isObj(from)) return q(from);
  return undefined;
}

async function subqueryAsync(q: (row: SqlValue) => Promise<SqlValue>, from: SqlValue): Promise<SqlValue> {
  if (Array.isArray(from)) {
    const out: SqlValue[] = [];
    for (const row of from) {
      const v = await q(row);
      if (v !== undefined) out.push(v);
    }
    return out;
  }
  if (isObj(from)) return q(from);
  return undefined;
}

/**
 * The row of a message whose payload is not an object: it has no fields, so every field read
 * gives Undefined. Rows are never `undefined` in generated code: with a row that may be
 * undefined, V8's optimised code for `R === undefined ? undefined : R[key]` ran at less than
 * half the speed of a plain `R[key]` (measured on the benchmark's filter rule), and a direct
 * read of an absent field gives the same Undefined.
 */
const EMPTY_ROW: Readonly<Record<string, SqlValue>> = Object.freeze({});

/** The payload of `input` as a row: the parsed object, or the empty row for anything else. */
function rowOf(input: SqlInput): Record<string, SqlValue> {
  const p = payloadOf(input);
  return isObj(p) ? p : EMPTY_ROW;
}

/**
 * EXISTS: "true if the subquery returns one or more elements" (iot-sql-operators). A query over
 * an array gives an array; one over an object gives its one row's result, or Undefined when its
 * WHERE is not true.
 */
function nonEmpty(v: SqlValue): boolean {
  return Array.isArray(v) ? v.length > 0 : v !== undefined;
}

const HELPERS = {
  isObj, member, index, truthy, defineKey, setPath, objectLiteral, arrayLiteral, spreadRow, subquery, subqueryAsync, nonEmpty,
  payloadOf, payloadBytes, rowOf, BINARY, NOT_FIRED, MessageContext, EMPTY_ROW, runtimeError,
};

// ---- code generation ----

interface Scope {
  /** JS expression for the current row: a plain object, `H.EMPTY_ROW` when the row is not one. */
  readonly row: string;
  /** JS expression for `*` (the payload itself, possibly a Buffer; or the nested query's element). */
  readonly star: string;
  /** A nested query's `FROM arr AS a`: the name `a` is the current element. */
  readonly alias?: string;
}

/** One generated JS function body with its own temporaries. */
class FunctionGen {
  temps = 0;
  readonly decls: string[] = [];
  /** Temporaries that keep a topic() level once computed in this function (see Generator.call). */
  readonly memo = new Map<string, string>();
  tmp(): string {
    return `t${this.temps++}`;
  }
  tempDecl(): string {
    if (this.temps === 0) return '';
    return `let ${Array.from({ length: this.temps }, (_, i) => `t${i}`).join(', ')};`;
  }
}

export interface Usage {
  row: boolean;
  star: boolean;
  ctx: boolean;
  isAsync: boolean;
}

/** Generates JS for one statement or expression; throws RULES_SQL_SEMANTIC with positions. */
class Generator {
  readonly consts: unknown[] = [];
  readonly functions: RuntimeFunction[] = [];
  /** Array-free forms of library functions (`RuntimeFunction.direct`), indexed as `D[i]`. */
  readonly directs: DirectFunction[] = [];
  readonly usage: Usage = { row: false, star: false, ctx: false, isAsync: false };
  #queries = 0;
  readonly variables = new Map<string, string>();

  constructor(
    private readonly c: CompileContext,
    /** Variables are resolved from the `vars` map at run time (templates), not from SET. */
    private readonly dynamicVariables: boolean,
  ) {}

  fail(pos: Position, message: string): never {
    throw sqlError('RULES_SQL_SEMANTIC', this.c.source, pos, message);
  }

  constant(v: unknown): string {
    this.consts.push(v);
    return `K[${this.consts.length - 1}]`;
  }

  literal(v: SqlValue): string {
    if (v === null || v === undefined) return String(v);
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || Object.is(v, -0)) return this.constant(v);
      return `(${String(v)})`;
    }
    if (typeof v === 'string') return JSON.stringify(v);
    return this.constant(v);
  }

  expr(e: Expr, s: Scope, f: FunctionGen): string {
    switch (e.kind) {
      case 'literal':
        return this.literal(e.value);
      case 'field':
        if (s.alias !== undefined && e.name === s.alias) return s.star;
        return this.field(s.row, e.name);
      case 'variable': {
        if (this.dynamicVariables) return `(VS === undefined ? undefined : VS.get(${JSON.stringify(e.name)}))`;
        const local = this.variables.get(e.name);
        if (local === undefined) this.fail(e.pos, `unknown variable @${e.name} (set it with SET @${e.name} = ... before SELECT)`);
        return local;
      }
      case 'member': {
        const key = JSON.stringify(e.name);
        if (INHERITED.has(e.name)) return `H.member(${this.expr(e.object, s, f)}, ${key})`;
        // Fast path for a plain object (JSON.parse makes only those): a name that Object.prototype
        // lacks reads the own property or nothing, exactly as H.member does.
        const t = f.tmp();
        return `((${t} = ${this.expr(e.object, s, f)}) != null && ${t}.constructor === Object ? ${t}[${key}] : H.member(${t}, ${key}))`;
      }
      case 'index':
        return `H.index(${this.expr(e.object, s, f)}, ${this.expr(e.index, s, f)})`;
      case 'wildcard':
        if (s.star === 'S') this.usage.star = true;
        return s.star;
      case 'call':
        return this.call(e, s, f);
      case 'cast':
        if (!this.c.runtime.isCastTypeName(e.type)) {
          this.fail(e.pos, `expected a type (Int, Decimal, Boolean or String) in cast(), found ${JSON.stringify(e.type)}`);
        }
        return `RT.castTo(${this.expr(e.operand, s, f)}, ${JSON.stringify(e.type)})`;
      case 'unary':
        return this.unary(e.op, this.expr(e.operand, s, f), f);
      case 'binary':
        return this.binary(e.op, e.left, e.right, s, f);
      case 'case':
        return this.caseExpr(e, s, f);
      case 'array':
        this.requireV2(e.pos, 'array literals');
        return `H.arrayLiteral([${e.items.map((i) => this.expr(i, s, f)).join(', ')}])`;
      case 'object':
        this.requireV2(e.pos, 'object literals');
        return `H.objectLiteral(${this.constant(e.entries.map((x) => x.key))}, [${e.entries.map((x) => this.expr(x.value, s, f)).join(', ')}])`;
      case 'subquery':
        this.requireV2(e.pos, 'nested queries');
        return this.subquery(e.query, s, f);
      case 'exists':
        this.requireV2(e.pos, 'EXISTS');
        return `H.nonEmpty(${this.subquery(e.query, s, f)})`;
    }
  }

  requireV2(pos: Position, what: string): void {
    if (this.c.sqlVersion === '2015-10-08') this.fail(pos, `${what} need SQL version 2016-03-23 (this rule uses 2015-10-08)`);
  }

  field(row: string, name: string): string {
    if (row === 'R') this.usage.row = true;
    const key = JSON.stringify(name);
    if (INHERITED.has(name)) return `H.member(${row}, ${key})`;
    // `row` is a const holding a plain object (or the empty row), and `name` is not inherited
    // from Object.prototype, so a direct read gives the own property or Undefined.
    return `${row}[${key}]`;
  }

  call(e: Extract<Expr, { kind: 'call' }>, s: Scope, f: FunctionGen): string {
    const fn = this.c.runtime.functions.get(e.name);
    if (!fn) this.fail(e.pos, `unknown function ${e.name}()`);
    const n = e.args.length;
    if (n < fn.minArgs || n > fn.maxArgs) {
      // "Functions called with invalid arguments (for example, wrong types, wrong number of
      // arguments, and so on) return Undefined" (iot-sql-data-types, Undefined). The arguments
      // are still compiled, so that an unknown function or variable in them is still an error.
      for (const a of e.args) this.expr(a, s, f);
      return 'undefined';
    }
    if (fn.validate) {
      try {
        fn.validate(n);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw sqlError('RULES_SQL_SEMANTIC', this.c.source, e.pos, reason, err);
      }
    }
    const slot = this.functions.push(fn) - 1;
    const read = fn.readsField;
    if (read !== undefined && n === 0 && !fn.async) {
      // clientid(), timestamp() and the like: a read of the message's field, as hand-written code
      // would do it, with no argument array and no context object (issue 12, point 4). The field
      // name is one of a fixed set, and is written with JSON.stringify all the same.
      const t = f.tmp();
      const otherwise = read.absent === 'call' ? `F[${slot}].call([], ${this.context()})` : this.literal(read.absent.value);
      return `((${t} = IN[${JSON.stringify(read.field)}]) != null ? ${t} : ${otherwise})`;
    }
    this.usage.ctx = true;
    const hasWildcard = e.args.some((a) => a.kind === 'wildcard');
    // An array-free form: positional arguments, and no context object (a pure function reads
    // only its arguments; topic() reads only the topic, which it is given).
    const directFn = !fn.async && !hasWildcard && (fn.pure || fn.directTakesTopic === true) ? fn.direct?.[n] : undefined;
    const libraryCall = (args: readonly string[]): string => {
      if (directFn === undefined) return `F[${slot}].call([${args.join(', ')}], undefined)`;
      const d = this.directs.push(directFn) - 1;
      return `D[${d}](${[...(fn.directTakesTopic ? ['IN.topic'] : []), ...args].join(', ')})`;
    };
    const fast = STRING_FAST_PATHS[e.name];
    if (fast !== undefined && fn.pure && !fn.async && n >= 1 && !hasWildcard) {
      // Inline form for String arguments; anything else goes to the library function. A String
      // literal is used as it is (startsWith("off") is what V8 optimises best); any other argument
      // is evaluated once into a temporary.
      const isText = (a: Expr) => a.kind === 'literal' && typeof a.value === 'string';
      const operands = e.args.map((a) => (isText(a) ? this.expr(a, s, f) : f.tmp()));
      const binds = e.args.flatMap((a, i) => (isText(a) ? [] : [`${operands[i]} = ${this.expr(a, s, f)}, `])).join('');
      const checks = e.args.flatMap((a, i) => (isText(a) ? [] : [`typeof ${operands[i]} === 'string'`]));
      const test = checks.length === 0 ? 'true' : checks.join(' && ');
      return `(${binds}${test} ? ${fast(operands)} : ${libraryCall(operands)})`;
    }
    const literalArgs = e.args.every((a) => a.kind === 'literal');
    if (directFn !== undefined && fn.directTakesTopic && literalArgs) {
      // topic(2) twice in a rule is one value per message: computed on first use, then reused
      // (a temporary starts Undefined, and an Undefined result is simply computed again).
      const key = `${e.name}(${JSON.stringify(e.args.map((a) => (a.kind === 'literal' ? a.value : null)))})`;
      let t = f.memo.get(key);
      if (t === undefined) {
        t = f.tmp();
        f.memo.set(key, t);
      }
      const level = e.name === 'topic' && n === 1 ? e.args[0] : undefined;
      const computed =
        level?.kind === 'literal' && typeof level.value === 'number' && Number.isInteger(level.value) && level.value >= 1 && level.value <= MAX_INLINE_TOPIC_LEVEL
          ? this.topicLevelInline(level.value, libraryCall([String(level.value)]), f)
          : libraryCall(e.args.map((a) => this.expr(a, s, f)));
      return `(${t} !== undefined ? ${t} : (${t} = ${computed}))`;
    }
    const inline = SUBSTRING_SLICE[e.name];
    if (inline !== undefined && directFn !== undefined && e.args.slice(1).every((a) => a.kind === 'literal' && typeof a.value === 'number' && Number.isInteger(a.value) && a.value >= 0)) {
      // substring(s, 2) and substring(s, 1, 4) with whole, non-negative literal indices on a
      // String are String.slice: the library's flooring and clamping change nothing there.
      const t = f.tmp();
      const rest = e.args.slice(1).map((a) => this.expr(a, s, f));
      return `(typeof (${t} = ${this.expr(e.args[0]!, s, f)}) === 'string' ? ${t}.slice(${rest.join(', ')}) : ${libraryCall([t, ...rest])})`;
    }
    if (directFn !== undefined) return libraryCall(e.args.map((a) => this.expr(a, s, f)));
    // `*` where the function takes bytes (encode(*, 'base64')) is the raw payload as the device
    // sent it, never a re-serialisation of the parsed JSON; the payload is then not parsed at all.
    const bytesAt = fn.payloadBytesArgs ?? [];
    const args = e.args
      .map((a, i) => (a.kind === 'wildcard' && s.star === 'S' && bytesAt.includes(i) ? 'H.payloadBytes(IN)' : this.expr(a, s, f)))
      .join(', ');
    // A pure function reads only its arguments, so it gets no context (no allocation per message).
    const ctx = fn.pure && !fn.async ? 'undefined' : this.context();
    const callExpr = `F[${slot}].call([${args}], ${ctx})`;
    if (fn.async) {
      this.usage.isAsync = true;
      return `(await ${callExpr})`;
    }
    return callExpr;
  }

  /** The message's context object, built on first use in an evaluation and shared by its calls. */
  context(): string {
    this.usage.ctx = true;
    return '(C === undefined ? (C = new H.MessageContext(IN, SV, AC, SQLV)) : C)';
  }

  /**
   * topic(n) for a literal n as inline JavaScript: the text between the (n-1)-th and n-th `/`,
   * found with indexOf as hand-written code would, Undefined past the last level. A topic that
   * starts with `$` (Basic Ingest drops its prefix first) goes to the library (`library`).
   * index.test.ts checks it against the library.
   */
  topicLevelInline(n: number, library: string, f: FunctionGen): string {
    const t = f.tmp();
    const p = f.tmp();
    const e = f.tmp();
    let chain = `((${e} = ${t}.indexOf('/', ${p} + 1)) < 0 ? ${t}.slice(${p} + 1) : ${t}.slice(${p} + 1, ${e}))`;
    for (let i = 1; i < n; i++) chain = `((${p} = ${t}.indexOf('/', ${p} + 1)) < 0 ? undefined : ${chain})`;
    return `((${t} = IN.topic).charCodeAt(0) === 36 ? ${library} : (${p} = -1, ${chain}))`;
  }

  unary(op: 'not' | '-' | '+', operand: string, f: FunctionGen): string {
    const t = f.tmp();
    switch (op) {
      case 'not':
        return `(typeof (${t} = ${operand}) === 'boolean' ? !${t} : OP.not(${t}))`;
      case '-':
        return `(typeof (${t} = ${operand}) === 'number' ? 0 - ${t} : OP.neg(${t}))`;
      case '+':
        return `(typeof (${t} = ${operand}) === 'number' ? ${t} : OP.neg(OP.neg(${t})))`;
    }
  }

  binary(op: BinaryOperator, left: Expr, right: Expr, s: Scope, f: FunctionGen): string {
    const l = this.expr(left, s, f);
    const r = this.expr(right, s, f);
    const a = f.tmp();
    const b = f.tmp();
    const ln = left.kind === 'literal' && typeof left.value === 'number';
    const rn = right.kind === 'literal' && typeof right.value === 'number';
    const ls = left.kind === 'literal' && typeof left.value === 'string';
    const rs = right.kind === 'literal' && typeof right.value === 'string';
    const bothNumbers = `${ln ? '' : `typeof ${a} === 'number'`}${!ln && !rn ? ' && ' : ''}${rn ? '' : `typeof ${b} === 'number'`}` || 'true';
    const bind = `${a} = ${l}, ${b} = ${r}, `;
    // Fast paths give the operator table's answer for two numbers (or two strings) without a call.
    const numeric = (js: string, fn: string) => `(${bind}${bothNumbers} ? ${js} : OP.${fn}(${a}, ${b}))`;
    switch (op) {
      case '>': return numeric(`${a} > ${b}`, 'gt');
      case '>=': return numeric(`${a} >= ${b}`, 'gte');
      case '<': return numeric(`${a} < ${b}`, 'lt');
      case '<=': return numeric(`${a} <= ${b}`, 'lte');
      case '+': return numeric(`${a} + ${b}`, 'add');
      case '-': return numeric(`${a} - ${b}`, 'sub');
      case '*': return numeric(`${a} * ${b}`, 'mul');
      case '/':
        // SQL 2015-10-08 keeps `10.0` a Decimal, so a division with a Decimal literal in it is
        // never an integer division (iot-sql-data-types); 2016-03-23 reads `10.0` as the Int 10.
        if (this.c.sqlVersion === '2015-10-08' && (staticDecimal(left) || staticDecimal(right))) return `(${bind}OP.divDecimal(${a}, ${b}))`;
        return `(${bind}OP.div(${a}, ${b}))`;
      case '%': return `(${bind}OP.mod(${a}, ${b}))`;
      case '=':
      case '<>': {
        const same = op === '=' ? '===' : '!==';
        let fast: string;
        if (ls || rs) fast = `typeof ${ls ? b : a} === 'string'`;
        else if (ln || rn) fast = `typeof ${ln ? b : a} === 'number'`;
        else fast = `(typeof ${a} === 'number' || typeof ${a} === 'string') && typeof ${a} === typeof ${b}`;
        return `(${bind}${fast} ? ${a} ${same} ${b} : OP.${op === '=' ? 'eq' : 'neq'}(${a}, ${b}))`;
      }
      case 'and':
        return `(${bind}typeof ${a} === 'boolean' && typeof ${b} === 'boolean' ? ${a} && ${b} : OP.and(${a}, ${b}))`;
      case 'or':
        return `(${bind}typeof ${a} === 'boolean' && typeof ${b} === 'boolean' ? ${a} || ${b} : OP.or(${a}, ${b}))`;
      case 'in':
        return `(${bind}OP.inOp(${a}, ${b}))`;
      case 'contains':
        return `(${bind}OP.contains(${a}, ${b}))`;
      case '||': {
        if (this.c.runtime.operators.concat) return `(${bind}OP.concat(${a}, ${b}))`;
        const concat = this.c.runtime.functions.get('concat');
        if (!concat) this.fail(left.pos, "the '||' operator needs the concat function");
        this.functions.push(concat);
        return `(${bind}F[${this.functions.length - 1}].call([${a}, ${b}], ${this.context()}))`;
      }
    }
  }

  caseExpr(e: Extract<Expr, { kind: 'case' }>, s: Scope, f: FunctionGen): string {
    const otherwise = e.otherwise ? this.expr(e.otherwise, s, f) : 'undefined';
    if (e.subject) {
      // Simple CASE: the first WHEN equal to the subject (the = operator's table); Undefined subject gives Undefined.
      const t = f.tmp();
      const w = f.tmp();
      let chain = otherwise;
      for (let i = e.whens.length - 1; i >= 0; i--) {
        const { when, then } = e.whens[i]!;
        const test = `((${w} = ${this.expr(when, s, f)}), (typeof ${t} === 'number' || typeof ${t} === 'string') && typeof ${t} === typeof ${w} ? ${t} === ${w} : OP.eq(${t}, ${w}) === true)`;
        chain = `(${test} ? ${this.expr(then, s, f)} : ${chain})`;
      }
      return `((${t} = ${this.expr(e.subject, s, f)}) === undefined ? undefined : ${chain})`;
    }
    let chain = otherwise;
    for (let i = e.whens.length - 1; i >= 0; i--) {
      const { when, then } = e.whens[i]!;
      chain = `(${isTrueJs(when, this.expr(when, s, f))} ? ${this.expr(then, s, f)} : ${chain})`;
    }
    return chain;
  }

  subquery(q: Query, s: Scope, f: FunctionGen): string {
    const id = this.#queries++;
    const inner = new FunctionGen();
    const row = `E${id}`;
    const alias = q.from?.kind === 'expr' ? q.from.alias : undefined;
    const scope: Scope = { row: `RW${id}`, star: row, ...(alias !== undefined ? { alias } : {}) };
    const whereCode = q.where ? `if (!(${isTrueJs(q.where, this.expr(q.where, scope, inner))})) return undefined;` : '';
    const body = this.projection(q.select, scope, inner, false);
    const from = q.from?.kind === 'expr' ? this.expr(q.from.expr, s, f) : 'undefined';
    const asyncKw = this.usage.isAsync ? 'async ' : '';
    f.decls.push(
      `${asyncKw}function Q${id}(${row}) {\n${inner.tempDecl()}\n${inner.decls.join('\n')}\nconst RW${id} = H.isObj(${row}) ? ${row} : H.EMPTY_ROW;\n${whereCode}\n${body}\n}`,
    );
    return this.usage.isAsync ? `(await H.subqueryAsync(Q${id}, ${from}))` : `H.subquery(Q${id}, ${from})`;
  }

  /** Statements that end in `return <output>`. */
  projection(p: Projection, s: Scope, f: FunctionGen, topLevel: boolean): string {
    if (p.kind === 'value') {
      const v = this.expr(p.expr, s, f);
      // AWS: "Undefined is converted to an empty string when serialized by itself".
      return topLevel ? `{ const v = ${v}; return v === undefined ? '' : v; }` : `return ${v};`;
    }
    const items = p.items;
    if (items.length === 1 && items[0]!.kind === 'star') {
      if (s.star === 'S') this.usage.star = true;
      return `return ${s.star};`;
    }
    const hasStar = items.some((i) => i.kind === 'star');
    const values: { key: readonly string[]; js: string }[] = [];
    const lines: string[] = [];
    items.forEach((item, i) => {
      if (item.kind === 'star') return;
      const key = item.alias.length === 1 && item.alias[0] === '' ? [`_${i + 1}`] : item.alias;
      const v = `o${values.length}`;
      lines.push(`const ${v} = ${this.expr(item.expr, s, f)};`);
      values.push({ key, js: v });
    });
    if (hasStar) {
      if (s.row === 'R') this.usage.row = true;
      lines.push(`const out = H.spreadRow(${s.row});`);
      for (const { key, js } of values) lines.push(this.assign(key, js));
      lines.push('return out;');
      return lines.join('\n');
    }
    const simpleKeys = values.every((v) => v.key.length === 1 && v.key[0] !== '__proto__');
    const unique = new Set(values.map((v) => v.key.join('.'))).size === values.length;
    if (simpleKeys && unique && values.length > 0) {
      // Fast path: every value defined, so one object literal with a stable shape.
      const all = values.map((v) => `${v.js} !== undefined`).join(' && ');
      const literal = values.map((v) => `${JSON.stringify(v.key[0])}: ${v.js}`).join(', ');
      lines.push(`if (${all}) return { ${literal} };`);
    }
    lines.push('const out = {};');
    for (const { key, js } of values) lines.push(this.assign(key, js));
    lines.push('return out;');
    return lines.join('\n');
  }

  assign(key: readonly string[], js: string): string {
    if (key.length === 1) {
      const k = key[0]!;
      return k === '__proto__' ? `if (${js} !== undefined) H.defineKey(out, "__proto__", ${js});` : `if (${js} !== undefined) out[${JSON.stringify(k)}] = ${js};`;
    }
    return `if (${js} !== undefined) H.setPath(out, ${this.constant(key)}, ${js});`;
  }
}

/**
 * Inline JavaScript for pure functions whose result on String arguments is a plain string
 * operation: `upper` and `lower` are String.toUpperCase / toLowerCase in the library, `concat`
 * of Strings joins them, `startswith` / `endswith` of two Strings are String.startsWith /
 * endsWith (iot-sql-functions). Other argument types call the library.
 * compile.test.ts checks each against the library function.
 */
const STRING_FAST_PATHS: Readonly<Record<string, (args: readonly string[]) => string>> = {
  upper: ([a]) => `${a}.toUpperCase()`,
  lower: ([a]) => `${a}.toLowerCase()`,
  concat: (args) => `(${args.join(' + ')})`,
  // startswith/endswith of two Strings are String.startsWith/endsWith in the library.
  startswith: ([a, b]) => `${a}.startsWith(${b})`,
  endswith: ([a, b]) => `${a}.endsWith(${b})`,
};

/** topic(n) with a literal n up to this is inlined (Generator.topicLevelInline); beyond, a call. */
const MAX_INLINE_TOPIC_LEVEL = 16;

/** Functions whose String form with whole, non-negative literal indices is String.slice. */
const SUBSTRING_SLICE: Readonly<Record<string, true>> = { substring: true };

/**
 * True when `e` is a Decimal under SQL 2015-10-08 whatever its value: a number literal written
 * with a decimal point or exponent, or arithmetic with one as an operand. Only literals are
 * tracked; payload numbers are JavaScript numbers once parsed (see SEMANTICS.md, "Numbers").
 */
function staticDecimal(e: Expr): boolean {
  switch (e.kind) {
    case 'literal':
      return e.decimal === true;
    case 'unary':
      return e.op !== 'not' && staticDecimal(e.operand);
    case 'binary':
      return (e.op === '+' || e.op === '-' || e.op === '*' || e.op === '/' || e.op === '%') && (staticDecimal(e.left) || staticDecimal(e.right));
    default:
      return false;
  }
}

/**
 * JS for "is `e` true?" as WHERE and searched CASE need it. Comparisons and logic operators give
 * only Boolean or Undefined, so `=== true` suffices; anything else may be the string "true".
 */
function isTrueJs(e: Expr, js: string): string {
  const booleanValued =
    (e.kind === 'binary' && e.op !== '+' && e.op !== '-' && e.op !== '*' && e.op !== '/' && e.op !== '%' && e.op !== '||') ||
    (e.kind === 'unary' && e.op === 'not') ||
    e.kind === 'exists' ||
    (e.kind === 'literal' && typeof e.value === 'boolean');
  return booleanValued ? `(${js}) === true` : `H.truthy(${js})`;
}

/** Pre-scan: does any function call in the statement resolve to an async function? */
function containsAsync(node: unknown, runtime: SqlRuntime): boolean {
  if (node === null || typeof node !== 'object') return false;
  const n = node as { kind?: string; name?: string };
  if (n.kind === 'call' && runtime.functions.get(n.name ?? '')?.async) return true;
  for (const v of Object.values(node)) {
    if (Array.isArray(v)) {
      for (const x of v) if (containsAsync(x, runtime)) return true;
    } else if (typeof v === 'object' && containsAsync(v, runtime)) return true;
  }
  return false;
}

/**
 * The per-message start of a generated function: the payload (P), the payload as a row object
 * (R) and `*` (S), as far as the rule uses them. An already-parsed plain object payload (the
 * common case: `json` given, or a SqlMessage) is taken inline, without a call: one property
 * read, `constructor === Object`, which V8 answers with a map check. That test is the first one
 * because a chain of `typeof`, `Array.isArray` and `instanceof` tests cost a third of the
 * benchmark's filter rule. Whatever fails it (a payload to parse, an array, bytes, an object
 * with an own `constructor` key or no prototype) takes the general path, which gives the
 * same answer for plain objects.
 */
function prologue(u: Usage): string {
  if (!u.row && !u.star) return 'let C;';
  const plain = 'J != null && J.constructor === Object';
  if (!u.star) return ['const J = IN.json;', `const R = ${plain} ? J : H.rowOf(IN);`, 'let C;'].join('\n');
  return [
    'const J = IN.json;',
    `const P = ${plain} ? J : H.payloadOf(IN);`,
    u.row ? 'const R = H.isObj(P) ? P : H.EMPTY_ROW;' : '',
    'const S = P === H.BINARY ? H.payloadBytes(IN) : P;',
    'let C;',
  ].join('\n');
}

export interface CompiledProgram {
  /**
   * Evaluates one message: NOT_FIRED (the topic does not match `matchTopic`, or WHERE is not
   * true), or the output (a Promise of it when `isAsync`).
   */
  readonly run: (input: SqlInput, vars?: Map<string, SqlValue>) => SqlValue | typeof NOT_FIRED | Promise<SqlValue | typeof NOT_FIRED>;
  /** `run` without the topic test, for a caller that has matched the topic already. */
  readonly runMatched: CompiledProgram['run'];
  /**
   * For a synchronous rule, the per-message hot path: the output, or undefined when the rule does
   * not fire; anything thrown is a PlatformError (RULES_SQL_RUNTIME unless it already was one).
   */
  readonly evaluate?: (input: SqlInput) => SqlValue;
  /** `evaluate` without the topic test (see `runMatched`). */
  readonly evaluateMatched?: (input: SqlInput) => SqlValue;
  readonly isAsync: boolean;
  readonly readsPayload: boolean;
  /** The generated source, for debugging and the injection tests. */
  readonly code: string;
}

/**
 * Generated factories by their source. Compiling the same SQL again (a rule file saved again, a
 * rule set rebuilt, many rules with one SELECT) reuses the factory, and with it the functions V8
 * has already optimised: a fresh `new Function` starts cold, and its rule ran at a third of its
 * speed over its first 20,000 messages (the actions benchmark compiles a rule per run). A
 * factory holds no state (its arguments carry the rule's constants and runtime), so sharing one
 * is safe. Bounded: past MAX_FACTORIES distinct sources it starts over.
 */
const factories = new Map<string, (...a: unknown[]) => unknown>();
const MAX_FACTORIES = 1_000;

function build(params: string[], body: string, args: unknown[]): unknown {
  const key = `${params.join(',')}\n${body}`;
  let factory = factories.get(key);
  if (!factory) {
    if (factories.size >= MAX_FACTORIES) factories.clear();
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- see the module comment: no user text reaches `body`
    factory = new Function(...params, body) as (...a: unknown[]) => unknown;
    factories.set(key, factory);
  }
  return factory(...args);
}

/**
 * Compiles a statement. `vars`, when the caller passes a Map to `run`, receives the SET
 * variables' values (templates read them). Throws RULES_SQL_SEMANTIC for unknown functions,
 * wrong argument counts, unknown variables, bad topic filters and version mismatches.
 */
export function compileStatement(statement: Statement, c: CompileContext): CompiledProgram {
  const from = statement.query.from;
  if (from?.kind === 'topic') {
    const problem = topicFilterProblem(from.filter);
    if (problem) throw sqlError('RULES_SQL_SEMANTIC', c.source, from.pos, `${problem}, found '${from.filter}'`);
  }
  const g = new Generator(c, false);
  g.usage.isAsync = containsAsync(statement, c.runtime);
  const f = new FunctionGen();
  const scope: Scope = { row: 'R', star: 'S' };
  const setLines: string[] = [];
  statement.set.forEach((v, i) => {
    const js = g.expr(v.expr, scope, f);
    const local = `v${i}`;
    g.variables.set(v.name, local);
    setLines.push(`const ${local} = ${js};`);
    setLines.push(`if (VO !== undefined) VO.set(${JSON.stringify(v.name)}, ${local});`);
  });
  const whereExpr = statement.query.where;
  const condition = whereExpr ? isTrueJs(whereExpr, g.expr(whereExpr, scope, f)) : undefined;
  const projection = g.projection(statement.query.select, scope, f, true);
  const u = g.usage;
  // The topic first, so that a message the rule does not match is never parsed. An exact FROM
  // filter is accepted by one comparison; anything else (wildcards, Basic Ingest) asks TM.
  const exact = from?.kind === 'topic' && !from.filter.includes('+') && !from.filter.includes('#') ? from.filter : undefined;
  const topicCheck = (notFired: string) =>
    c.matchTopic === undefined
      ? ''
      : exact !== undefined
        ? `{ const T = IN.topic; if (T !== ${JSON.stringify(exact)} && !TM(T)) return ${notFired}; }`
        : `if (!TM(IN.topic)) return ${notFired};`;
  const body = (notFired: string, checkTopic: boolean) =>
    [checkTopic ? topicCheck(notFired) : '', f.tempDecl(), ...f.decls, prologue(u), ...setLines, condition === undefined ? '' : `if (!(${condition})) return ${notFired};`, projection].join('\n');
  const ruleSource = (checkTopic: boolean) => `return ${u.isAsync ? 'async ' : ''}function rule(IN, VO) {\n${body('H.NOT_FIRED', checkTopic)}\n};`;
  const fnSource = ruleSource(true);
  const sv = c.services ?? c.runtime.defaultServices();
  const params = ['H', 'OP', 'F', 'K', 'RT', 'SV', 'AC', 'SQLV', 'D', 'TM'];
  const args = [HELPERS, c.runtime.operators, g.functions, g.consts, c.runtime, sv, c.accountId, c.sqlVersion, g.directs, c.matchTopic];
  const program = build(params, fnSource, args) as Program;
  const programMatched = c.matchTopic === undefined ? program : (build(params, ruleSource(false), args) as Program);
  let evaluate: ((input: SqlInput) => SqlValue) | undefined;
  let evaluateMatched: ((input: SqlInput) => SqlValue) | undefined;
  if (!u.isAsync) {
    // The same body once more as the per-message entry point: a rule's output is never
    // Undefined (SELECT VALUE of Undefined is ''), so Undefined can mean "not fired" here, and
    // errors are wrapped in place. A wrapper function around `rule` cost a tenth of the
    // benchmark's filter rule, and V8 did not always inline the rule into it.
    const source = g.constant(c.source);
    const evaluateSource = (checkTopic: boolean) =>
      `return function evaluate(IN) {\nconst VO = undefined;\ntry {\n${body('undefined', checkTopic)}\n} catch (err) {\nthrow H.runtimeError(err, ${source});\n}\n};`;
    evaluate = build(params, evaluateSource(true), args) as (input: SqlInput) => SqlValue;
    evaluateMatched = c.matchTopic === undefined ? evaluate : (build(params, evaluateSource(false), args) as (input: SqlInput) => SqlValue);
  }
  return {
    run: program as CompiledProgram['run'],
    runMatched: programMatched as CompiledProgram['run'],
    ...(evaluate ? { evaluate } : {}),
    ...(evaluateMatched ? { evaluateMatched } : {}),
    isAsync: u.isAsync,
    readsPayload: u.row || u.star,
    code: fnSource,
  };
}

export interface CompiledExpression {
  /** Evaluates the expression against a message; `vars` supplies SET variables. */
  readonly evaluate: (input: SqlInput, vars?: ReadonlyMap<string, SqlValue>) => SqlValue | Promise<SqlValue>;
  readonly isAsync: boolean;
  readonly code: string;
}

/** Compiles one expression (a substitution template's `${...}`), reading the payload as rows do. */
export function compileExpression(expr: Expr, c: CompileContext): CompiledExpression {
  const g = new Generator(c, true);
  g.usage.isAsync = containsAsync(expr, c.runtime);
  const f = new FunctionGen();
  const js = g.expr(expr, { row: 'R', star: 'S' }, f);
  const u = g.usage;
  const body = [f.tempDecl(), ...f.decls, prologue(u), `return ${js};`].join('\n');
  const fnSource = `return ${u.isAsync ? 'async ' : ''}function expression(IN, VS) {\n${body}\n};`;
  const sv = c.services ?? c.runtime.defaultServices();
  const fn = build(['H', 'OP', 'F', 'K', 'RT', 'SV', 'AC', 'SQLV', 'D'], fnSource, [HELPERS, c.runtime.operators, g.functions, g.consts, c.runtime, sv, c.accountId, c.sqlVersion, g.directs]);
  return { evaluate: fn as CompiledExpression['evaluate'], isAsync: u.isAsync, code: fnSource };
}

/** Wraps anything a compiled rule throws that is not already a PlatformError. */
export function runtimeError(err: unknown, source: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PlatformError('RULES_SQL_RUNTIME', `${source}: ${message}`, { cause: err, details: { source } });
}
