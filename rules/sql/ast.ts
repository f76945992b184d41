/**
 * The typed AST of an IoT SQL statement, produced by `to-ast.ts` and compiled by `compile.ts`.
 * Every node carries the position of its first token so that compile errors can name
 * `source:line:column`.
 */

export interface Position {
  readonly line: number;
  readonly column: number;
  /** Offset of the first character in the source text. */
  readonly offset: number;
}

/** A constant written in SQL: JSON-like values only (arrays and objects are built by nodes). */
export type LiteralValue = null | boolean | number | string;

export type BinaryOperator =
  | 'or' | 'and'
  | '=' | '<>' | '<' | '<=' | '>' | '>=' | 'in' | 'contains'
  | '+' | '-' | '||'
  | '*' | '/' | '%';

export type Expr =
  /**
   * `decimal` marks a number written with a decimal point or an exponent (`10.0`, `1e3`): SQL
   * version 2015-10-08 keeps such a number a Decimal even when it is whole.
   */
  | { readonly kind: 'literal'; readonly value: LiteralValue; readonly decimal?: boolean; readonly pos: Position }
  /** A name at the start of a path: a field of the current row (the payload, or an element in a nested query). */
  | { readonly kind: 'field'; readonly name: string; readonly pos: Position }
  | { readonly kind: 'variable'; readonly name: string; readonly pos: Position }
  | { readonly kind: 'member'; readonly object: Expr; readonly name: string; readonly pos: Position }
  | { readonly kind: 'index'; readonly object: Expr; readonly index: Expr; readonly pos: Position }
  /** `*`: the whole current row (the payload, which is a Buffer when it is not JSON). */
  | { readonly kind: 'wildcard'; readonly pos: Position }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly Expr[]; readonly pos: Position }
  | { readonly kind: 'cast'; readonly operand: Expr; readonly type: string; readonly pos: Position }
  | { readonly kind: 'unary'; readonly op: 'not' | '-' | '+'; readonly operand: Expr; readonly pos: Position }
  | { readonly kind: 'binary'; readonly op: BinaryOperator; readonly left: Expr; readonly right: Expr; readonly pos: Position }
  | {
      readonly kind: 'case';
      /** Present for the simple form `CASE v WHEN t THEN r`, absent for `CASE WHEN cond THEN r`. */
      readonly subject?: Expr;
      readonly whens: readonly { readonly when: Expr; readonly then: Expr }[];
      readonly otherwise?: Expr;
      readonly pos: Position;
    }
  | { readonly kind: 'array'; readonly items: readonly Expr[]; readonly pos: Position }
  | { readonly kind: 'object'; readonly entries: readonly { readonly key: string; readonly value: Expr }[]; readonly pos: Position }
  | { readonly kind: 'subquery'; readonly query: Query; readonly pos: Position }
  /** `EXISTS (nested query)`: true when the nested query gives at least one element. */
  | { readonly kind: 'exists'; readonly query: Query; readonly pos: Position };

export type SelectItem =
  | { readonly kind: 'star'; readonly pos: Position }
  /** `alias` is the output key path: `AS a.b` nests the value under `a`. */
  | { readonly kind: 'expr'; readonly expr: Expr; readonly alias: readonly string[]; readonly pos: Position };

export type Projection =
  | { readonly kind: 'value'; readonly expr: Expr }
  | { readonly kind: 'items'; readonly items: readonly SelectItem[] };

export type FromClause =
  | { readonly kind: 'topic'; readonly filter: string; readonly pos: Position }
  /** `alias` (nested queries only, `FROM arr AS a`) names the current element. */
  | { readonly kind: 'expr'; readonly expr: Expr; readonly alias?: string; readonly pos: Position };

export interface Query {
  readonly select: Projection;
  readonly from?: FromClause;
  readonly where?: Expr;
  readonly pos: Position;
}

export interface VariableAssignment {
  readonly name: string;
  readonly expr: Expr;
  readonly pos: Position;
}

/** A whole statement: `[SET @a = ..., ...] SELECT ... [FROM 'filter'] [WHERE ...]`. */
export interface Statement {
  readonly set: readonly VariableAssignment[];
  readonly query: Query;
  /** Where the statement starts and ends in its source (rule files keep its text). */
  readonly startOffset: number;
  readonly endOffset: number;
}
