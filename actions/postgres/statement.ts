/**
 * The SQL text of the postgres action, built once per action from its parameters: identifiers
 * (table, columns, conflict target) are checked against PostgreSQL's unquoted-identifier shape
 * when the rule is checked and always written quoted, and every value goes as a bind parameter
 * ($1, $2, ...), never into the text. Nothing a message carries can reach the SQL text.
 */
import { z } from 'zod';

/** PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated by the server, so refuse them. */
const MAX_IDENTIFIER_BYTES = 63;
/** An unquoted identifier (PostgreSQL docs, "Identifiers and Key Words"); kiot quotes it, so case is kept. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** PostgreSQL's limit of bind parameters in one statement (a 16-bit count in the Bind message). */
export const MAX_BIND_PARAMETERS = 65_535;

export const identifier = z
  .string()
  .regex(IDENTIFIER, 'expected an identifier (letters, digits, _ and $, not starting with a digit; no templates)')
  .refine((s) => Buffer.byteLength(s) <= MAX_IDENTIFIER_BYTES, `expected at most ${MAX_IDENTIFIER_BYTES} bytes`);

/** `table` or `schema.table`. */
export const tableName = z
  .string()
  .refine((s) => s.split('.').length <= 2 && s.split('.').every((p) => identifier.safeParse(p).success), 'expected a table name or schema.table, each part an identifier (letters, digits, _ and $; no templates)');

export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const quoteTable = (name: string): string => name.split('.').map(quoteIdentifier).join('.');

/** The highest `$n` in `sql` outside string literals, quoted identifiers and comments. */
export function highestPlaceholder(sql: string): number {
  const code = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\//g, ' ');
  let max = 0;
  for (const m of code.matchAll(/\$(\d+)/g)) max = Math.max(max, Number(m[1]));
  return max;
}

export interface OnConflict {
  /** The conflict target: a unique index's columns. */
  readonly columns: readonly string[];
  /** Columns set from the new row (`EXCLUDED`); none = DO NOTHING. */
  readonly update?: readonly string[] | undefined;
}

/** Builds `INSERT INTO t (c...) VALUES ($1,...),(...) [ON CONFLICT ...]` for `rows` rows. */
export function insertStatement(table: string, columns: readonly string[], rows: number, onConflict: OnConflict | undefined): string {
  const names = columns.map(quoteIdentifier).join(', ');
  const tuples: string[] = [];
  for (let r = 0, n = 1; r < rows; r++) {
    const slots: string[] = [];
    for (let c = 0; c < columns.length; c++) slots.push(`$${n++}`);
    tuples.push(`(${slots.join(', ')})`);
  }
  return `INSERT INTO ${quoteTable(table)} (${names}) VALUES ${tuples.join(', ')}${conflictClause(onConflict)}`;
}

function conflictClause(onConflict: OnConflict | undefined): string {
  if (!onConflict) return '';
  const target = `(${onConflict.columns.map(quoteIdentifier).join(', ')})`;
  const update = onConflict.update ?? [];
  if (update.length === 0) return ` ON CONFLICT ${target} DO NOTHING`;
  return ` ON CONFLICT ${target} DO UPDATE SET ${update.map((c) => `${quoteIdentifier(c)} = EXCLUDED.${quoteIdentifier(c)}`).join(', ')}`;
}
