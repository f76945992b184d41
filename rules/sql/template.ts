/**
 * Substitution templates: action parameters such as `alerts/${topic(2)}` (AWS IoT,
 * iot-substitution-templates). Each `${expression}` is any expression a SELECT or WHERE accepts,
 * evaluated against the original message, not the rule's output ("you cannot reference an alias
 * created using the AS clause"), plus the rule's SET variables.
 *
 * A value renders as the "To String" table says, except that Undefined renders as the empty
 * string (AWS: "Undefined is converted to an empty string when serialized by itself") and Null
 * as `null`.
 */
import { compileExpression, type CompileContext, type SqlInput } from './compile.js';
import { parseExpression } from './parse.js';
import { sqlError, pointAt } from './sql-error.js';
import type { SqlValue } from './runtime.js';
import { toSqlString } from './values.js';

export interface CompiledTemplate {
  readonly text: string;
  /** True when the text has at least one `${...}`. */
  readonly isTemplate: boolean;
  readonly isAsync: boolean;
  /** Renders against one message; `variables` are the rule's SET values (SqlResult.variables). */
  render(input: SqlInput, variables?: ReadonlyMap<string, SqlValue>): string | Promise<string>;
  renderAsync(input: SqlInput, variables?: ReadonlyMap<string, SqlValue>): Promise<string>;
}

type Part = string | ((input: SqlInput, vars?: ReadonlyMap<string, SqlValue>) => SqlValue | Promise<SqlValue>);

/** Text for one substituted value. */
export function renderValue(v: SqlValue): string {
  if (v === undefined) return '';
  if (v === null) return 'null';
  return toSqlString(v) ?? '';
}

/**
 * Finds the `}` that closes the `${` at `start` (the index just after `${`), skipping braces in
 * quoted strings and nested object literals. Returns -1 when there is none.
 */
function closingBrace(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "'" || ch === '"' || ch === '`') {
      for (i++; i < text.length && text[i] !== ch; i++) if (text[i] === '\\') i++;
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/**
 * The renderer of a template whose expressions are all synchronous. A parameter that is one
 * `${expr}` and nothing else (a column's value, a key) is the common case and is rendered per
 * record and parameter, so it skips the loop over parts and the concatenation.
 */
function renderSync(parts: readonly Part[]): (input: SqlInput, vars?: ReadonlyMap<string, SqlValue>) => string {
  const only = parts.length === 1 ? parts[0] : undefined;
  if (typeof only === 'function') return (input, vars) => renderValue(only(input, vars) as SqlValue);
  return (input, vars) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      out += typeof p === 'string' ? p : renderValue(p(input, vars) as SqlValue);
    }
    return out;
  };
}

/**
 * Compiles `text` once. Throws RULES_SQL_SYNTAX (or RULES_SQL_SEMANTIC) naming
 * `source:line:column` inside the template when an expression is bad or a `${` is not closed.
 */
export function compileTemplateWith(text: string, c: CompileContext): CompiledTemplate {
  const parts: Part[] = [];
  let isAsync = false;
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf('${', at);
    if (open < 0) break;
    if (open > at) parts.push(text.slice(at, open));
    const close = closingBrace(text, open + 2);
    if (close < 0) throw sqlError('RULES_SQL_SYNTAX', c.source, pointAt(text, open), "expected '}' to close '${', found end of template");
    const inner = text.slice(open + 2, close);
    if (inner.trim() === '') throw sqlError('RULES_SQL_SYNTAX', c.source, pointAt(text, open), "expected an expression inside '${}', found '}'");
    // Parse with the expression's own offsets, then report positions relative to the whole text.
    const padded = text.slice(0, open + 2).replace(/[^\n]/g, ' ') + inner;
    const expr = parseExpression(padded, c.source);
    const compiled = compileExpression(expr, c);
    isAsync ||= compiled.isAsync;
    parts.push(compiled.evaluate);
    at = close + 1;
  }
  if (at < text.length) parts.push(text.slice(at));
  const isTemplate = parts.some((p) => typeof p !== 'string');

  const renderAsync = async (input: SqlInput, vars?: ReadonlyMap<string, SqlValue>): Promise<string> => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : renderValue(await p(input, vars));
    return out;
  };
  const render = isAsync ? renderAsync : renderSync(parts);
  return { text, isTemplate, isAsync, render, renderAsync: (input, vars) => Promise.resolve(render(input, vars)) };
}
