/**
 * InfluxDB line protocol, one point per rule output (InfluxDB docs, "Line protocol reference"):
 *
 *   measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] timestamp
 *
 * Escaping: a backslash before a comma or space in a measurement, and before a comma, equals
 * sign or space in tag keys, tag values and field keys; in a string field value, a backslash
 * before `"` and `\`. Some text has no spelling in line protocol (InfluxDB 1.x reads `\` then
 * one of those characters as an escape, and has no escape for a backslash outside string
 * fields; a newline ends the line; a leading tab or NUL is skipped as blank): such a point is
 * refused with the reason, never written wrong. influxdb.test.ts checks every rule here against
 * what InfluxDB 1.6 stores.
 *
 * Field values are typed by what their template renders to (EMQX's InfluxDB sink does the
 * same): `12i` is an integer, `true`/`false` a boolean, a decimal number a float, `"..."` the
 * string between the quotes, anything else a string. An empty rendering (an Undefined field)
 * leaves the field out, and an empty tag value leaves the tag out.
 */

export type FieldValue = { readonly kind: 'float'; readonly value: number } | { readonly kind: 'integer'; readonly value: bigint } | { readonly kind: 'boolean'; readonly value: boolean } | { readonly kind: 'string'; readonly value: string };

export interface Point {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, string>>;
  /** Integer text in the write's precision. */
  readonly timestamp: string;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER = /^-?\d+i$/;
const FLOAT = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
/** The spellings InfluxDB reads as booleans. */
const TRUE = new Set(['t', 'T', 'true', 'True', 'TRUE']);
const FALSE = new Set(['f', 'F', 'false', 'False', 'FALSE']);

/** The typed value of a rendered field template; a string for anything that is not a number, integer or boolean. */
export function fieldValue(text: string): FieldValue {
  if (INTEGER.test(text)) {
    const value = BigInt(text.slice(0, -1));
    if (value >= INT64_MIN && value <= INT64_MAX) return { kind: 'integer', value };
  }
  if (TRUE.has(text)) return { kind: 'boolean', value: true };
  if (FALSE.has(text)) return { kind: 'boolean', value: false };
  if (FLOAT.test(text)) {
    const value = Number(text);
    if (Number.isFinite(value)) return { kind: 'float', value };
  }
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) return { kind: 'string', value: text.slice(1, -1) };
  return { kind: 'string', value: text };
}

/**
 * A rendered field as line protocol, skipping the parse and reprint of {@link fieldValue} and
 * encodeField when the text already is the spelling they would print (a template renders one
 * field per record and field): an integer `12i` of up to 15 digits without a leading zero or
 * `-0`, and a decimal of up to 15 significant digits without trailing zeros, in the range where
 * JavaScript prints plain notation. Such a decimal is its double's shortest round-trip form (15
 * digits always round-trip, IEEE 754 double's DBL_DIG), which is what String(Number(text)) prints.
 * line-protocol.test.ts checks that both paths agree.
 */
export function encodeFieldText(text: string): string {
  if (PLAIN_INTEGER.test(text)) return text;
  if (PLAIN_DECIMAL.test(text) && digitCount(text) <= 15) return text;
  return encodeField(fieldValue(text));
}

const PLAIN_INTEGER = /^(?:-?[1-9]\d{0,14}|0)i$/;
/** No leading zeros, no trailing zeros after the point, at most 5 zeros after `0.` (JavaScript prints 1e-7 for 0.0000001). */
const PLAIN_DECIMAL = /^-?(?:[1-9]\d*(?:\.\d*[1-9])?|0\.0{0,5}[1-9](?:\d*[1-9])?)$/;
const digitCount = (text: string): number => text.length - (text.startsWith('-') ? 1 : 0) - (text.includes('.') ? 1 : 0);

export const encodeField = (v: FieldValue): string => {
  switch (v.kind) {
    case 'integer':
      return `${v.value}i`;
    case 'boolean':
      return v.value ? 'true' : 'false';
    case 'float':
      return String(v.value);
    case 'string':
      return `"${v.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  }
};

/**
 * Why `text` cannot be written as a measurement, key or tag value whose special characters are
 * `special`, or undefined when it can: InfluxDB 1.x has no escape for a backslash there, so a
 * backslash may not come before one of `special`, another backslash or the end.
 */
function unspellable(text: string, what: string, special: string): string | undefined {
  if (text.includes('\n')) return `${what} ${JSON.stringify(text)} holds a newline, which line protocol cannot carry`;
  for (let i = text.indexOf('\\'); i >= 0; i = text.indexOf('\\', i + 1)) {
    const next = text[i + 1];
    if (next === undefined || next === '\\' || special.includes(next)) {
      return `${what} ${JSON.stringify(text)} has a backslash before ${next === undefined ? 'its end' : JSON.stringify(next)}, which line protocol cannot spell`;
    }
  }
  return undefined;
}

/** InfluxDB 1.x skips tabs and NULs (as well as spaces) where a measurement or the field set starts. */
const LEADING_BLANK = /^[\t\0]/;

/** Backslashes before `special`'s characters; most text has none, and a test is cheaper than a replace that calls back. */
const escape = (text: string, special: Special): string => (special.test.test(text) ? text.replace(special.all, (c) => `\\${c}`) : text);
interface Special {
  readonly test: RegExp;
  readonly all: RegExp;
}
const MEASUREMENT_SPECIAL: Special = { test: /[, ]/, all: /[, ]/g };
const KEY_SPECIAL: Special = { test: /[,= ]/, all: /[,= ]/g };

/** Why a tag or field key (a rule file's constant) cannot be used, or undefined. */
export function keyProblem(key: string): string | undefined {
  if (key === 'time') return 'InfluxDB refuses the key "time"';
  if (key.startsWith('_')) return `InfluxDB reserves keys that start with "_" (${JSON.stringify(key)})`;
  if (LEADING_BLANK.test(key)) return `key ${JSON.stringify(key)} starts with a tab or NUL, which InfluxDB skips as blank`;
  return unspellable(key, 'key', ',= "');
}

/** The point as one line (no trailing newline), or the reason it cannot be written. */
export function encodePoint(p: Point): { line: string } | { problem: string } {
  return new PointEncoder(Object.keys(p.tags), Object.keys(p.fields)).encode(p);
}

/**
 * Encodes points whose tag and field keys are known in advance (an influxdb action's `tags` and
 * `fields`, whose values are the templates): the keys are sorted and escaped once, not per point.
 */
export class PointEncoder {
  /** [key, `,key=` escaped], sorted by key: InfluxDB sorts tags by key itself; sorting here keeps one series one spelling. */
  readonly #tags: readonly (readonly [string, string])[];
  /** [key, `key=` escaped], in the given order. */
  readonly #fields: readonly (readonly [string, string])[];

  constructor(tagKeys: readonly string[], fieldKeys: readonly string[]) {
    this.#tags = [...tagKeys].sort().map((k) => [k, `,${escape(k, KEY_SPECIAL)}=`] as const);
    this.#fields = fieldKeys.map((k) => [k, `${escape(k, KEY_SPECIAL)}=`] as const);
  }

  /** The point as one line (no trailing newline), or the reason it cannot be written; `p`'s keys are the encoder's. */
  encode(p: Point): { line: string } | { problem: string } {
    if (p.measurement === '') return { problem: 'measurement rendered empty' };
    if (p.measurement.startsWith('#')) return { problem: `measurement ${JSON.stringify(p.measurement)} starts with "#", which line protocol reads as a comment` };
    if (LEADING_BLANK.test(p.measurement)) return { problem: `measurement ${JSON.stringify(p.measurement)} starts with a tab or NUL, which InfluxDB skips as blank` };
    const bad = unspellable(p.measurement, 'measurement', ', "=');
    if (bad) return { problem: bad };
    let line = escape(p.measurement, MEASUREMENT_SPECIAL);
    for (const [key, prefix] of this.#tags) {
      const value = p.tags[key];
      if (value === undefined || value === '') continue;
      const problem = unspellable(value, `tag ${key}`, ',= "');
      if (problem) return { problem };
      line += prefix + escape(value, KEY_SPECIAL);
    }
    let fields = '';
    for (const [key, prefix] of this.#fields) {
      const text = p.fields[key];
      if (text === undefined || text === '') continue;
      fields += (fields ? ',' : '') + prefix + encodeFieldText(text);
    }
    if (fields === '') return { problem: 'every field rendered empty; a point needs at least one field' };
    if (!TIMESTAMP.test(p.timestamp)) return { problem: `timestamp: expected an integer, received ${JSON.stringify(p.timestamp)}` };
    return { line: `${line} ${fields} ${p.timestamp}` };
  }
}

const TIMESTAMP = /^-?\d+$/;
