/**
 * What compiled SQL calls at run time: the operators and functions of the semantics side
 * (CONTRACT.md). The compiler takes them as a `SqlRuntime` value so that it depends on the
 * contract's shape only; `default-runtime.ts` builds the real one from `operators.ts`,
 * `values.ts` and `functions/`.
 */
import type { SqlValue } from './values.js';

export type { SqlValue };

export type BinaryFn = (a: SqlValue, b: SqlValue) => SqlValue;
export type UnaryFn = (a: SqlValue) => SqlValue;

export interface SqlOperators {
  readonly and: BinaryFn;
  readonly or: BinaryFn;
  readonly not: UnaryFn;
  readonly neg: UnaryFn;
  readonly add: BinaryFn;
  readonly sub: BinaryFn;
  readonly mul: BinaryFn;
  readonly div: BinaryFn;
  readonly mod: BinaryFn;
  readonly eq: BinaryFn;
  readonly neq: BinaryFn;
  readonly gt: BinaryFn;
  readonly gte: BinaryFn;
  readonly lt: BinaryFn;
  readonly lte: BinaryFn;
  /** `a / b` when a Decimal literal takes part under SQL 2015-10-08: never integer division. */
  readonly divDecimal: BinaryFn;
  /** `x IN array`. */
  readonly inOp: BinaryFn;
  /** `x CONTAINS y` (kiot extension). */
  readonly contains: BinaryFn;
  /** `a || b`; when absent the compiler calls the `concat` function. */
  readonly concat?: BinaryFn;
}

/** The envelope fields functions read (CONTRACT.md, `SqlContext`). */
export interface RuntimeContext {
  readonly topic: string;
  readonly clientId?: string;
  readonly principal?: string;
  readonly sourceIp?: string;
  readonly traceId?: string;
  readonly timestamp: number;
  readonly messageId?: string;
  readonly payload?: Buffer;
  readonly mqtt?: unknown;
  readonly services: unknown;
}

/** An array-free form of a function: positional arguments (after the topic, for topic()). */
export type DirectFunction = (...args: SqlValue[]) => SqlValue;

/** One SQL function as the compiler sees it (CONTRACT.md, `SqlFunction`). */
export interface RuntimeFunction {
  readonly name: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  readonly pure: boolean;
  readonly async?: boolean;
  /** Argument positions where `*` stands for the message's raw payload bytes (encode). */
  readonly payloadBytesArgs?: readonly number[];
  validate?(argCount: number): void;
  call(args: readonly SqlValue[], ctx: never): SqlValue | Promise<SqlValue>;
  /** Array-free forms by argument count (`SqlFunction.direct`). */
  readonly direct?: Readonly<Partial<Record<number, DirectFunction>>>;
  /** The direct forms take the message's raw topic first (`SqlFunction.directTakesTopic`). */
  readonly directTakesTopic?: boolean;
  /** The function returns a field of the message, read directly (`SqlFunction.readsField`). */
  readonly readsField?: {
    readonly field: 'clientId' | 'principal' | 'sourceIp' | 'traceId' | 'timestamp';
    readonly absent: { readonly value: SqlValue } | 'call';
  };
}

export interface SqlRuntime {
  readonly operators: SqlOperators;
  readonly functions: ReadonlyMap<string, RuntimeFunction>;
  castTo(value: SqlValue, typeName: string): SqlValue;
  isCastTypeName(typeName: string): boolean;
  /** The services functions such as get_thing_shadow call when the caller passes none. */
  defaultServices(): unknown;
}
