/**
 * IoT SQL values and the conversion tables of the AWS IoT developer guide
 * (iot-sql-data-types.html, "Conversions").
 *
 * Representation (CONTRACT.md): Undefined is `undefined`, Null is `null`, Int is an integral
 * `number`, Decimal a non-integral `number` (also NaN and ±Infinity), String `string`, Array an
 * array, Object a plain object, and a payload that is not JSON a `Buffer` ("Binary").
 * Numbers are IEEE doubles, so AWS's 34-digit Decimals and Ints are rounded to about 17
 * significant digits; see SEMANTICS.md.
 */

export type SqlValue =
  | undefined
  | null
  | boolean
  | number
  | string
  | Buffer
  | SqlValue[]
  | { [key: string]: SqlValue };

export type SqlObject = { [key: string]: SqlValue };

export type SqlType = 'Undefined' | 'Null' | 'Boolean' | 'Int' | 'Decimal' | 'String' | 'Array' | 'Object' | 'Binary';

/** The target types a conversion (or `CAST(x AS T)`) can name. */
export type ConversionTarget = 'Decimal' | 'Int' | 'Boolean' | 'String';

/** The SQL type of a value. An integral number is Int (SQL V2: `10.0` is processed as `10`). */
export function typeOf(v: SqlValue): SqlType {
  if (v === undefined) return 'Undefined';
  if (v === null) return 'Null';
  switch (typeof v) {
    case 'boolean':
      return 'Boolean';
    case 'number':
      return Number.isInteger(v) ? 'Int' : 'Decimal';
    case 'string':
      return 'String';
    default:
      if (Array.isArray(v)) return 'Array';
      if (Buffer.isBuffer(v)) return 'Binary';
      return 'Object';
  }
}

export function isObject(v: SqlValue): v is SqlObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

export function isNumber(v: SqlValue): v is number {
  return typeof v === 'number';
}

/**
 * The strings AWS IoT converts to Decimal: `^-?\d+(\.\d+)?((?i)E-?\d+)?$` (iot-sql-data-types,
 * "To Decimal"). No leading `+`, no surrounding blanks, no `.5` or `5.`.
 */
const DECIMAL_STRING = /^-?\d+(?:\.\d+)?(?:[eE]-?\d+)?$/;

/** Parses a string the way the conversion tables do, or returns undefined. */
export function parseDecimalString(s: string): number | undefined {
  return DECIMAL_STRING.test(s) ? Number(s) : undefined;
}

/**
 * Argument conversion to Decimal, as a function that expects a number applies it
 * ("To Decimal" table). The table's Null row yields Null; functions treat that as an
 * invalid argument (their own tables say "Other value: Undefined"), so this returns
 * `undefined` for Null. {@link convert} gives the table's exact result.
 */
export function toDecimal(v: SqlValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return parseDecimalString(v);
  return undefined;
}

/**
 * Rounds half away from zero, as Java's `RoundingMode.HALF_UP` does for the "Decimal: the
 * source value rounded to the nearest Int" row.
 */
function roundHalfUp(n: number): number {
  return n < 0 ? -Math.round(-n) : Math.round(n);
}

/**
 * Argument conversion to Int ("To Int" table): a Decimal is rounded to the nearest Int, a
 * String is parsed as a Decimal and then truncated. The table treats the two differently and
 * kiot follows it row by row (iot-sql-data-types, "To Int"). Null gives `undefined` here,
 * see {@link toDecimal}.
 */
export function toInt(v: SqlValue): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    return Number.isInteger(v) ? v : roundHalfUp(v);
  }
  if (typeof v === 'string') {
    const d = parseDecimalString(v);
    return d === undefined || !Number.isFinite(d) ? undefined : Math.trunc(d) + 0; // + 0 turns -0 into 0
  }
  return undefined;
}

/** "To Boolean" table: Booleans as they are, the strings "true"/"false" in any case, else undefined. */
export function toBoolean(v: SqlValue): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const lower = v.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return undefined;
}

/**
 * Formats a number as IoT SQL prints it: an Int of up to 34 digits in plain notation (never `1e+21`), a Decimal
 * as Java's BigDecimal does, which uses scientific notation with a capital `E` in the same
 * ranges where JavaScript switches to it (below 1e-6 and from 1e21 up).
 */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) {
    if (Object.is(n, -0)) return '0';
    if (Math.abs(n) < 1e21) return String(n);
    // AWS Ints have at most 34 digits; a larger whole number can only be a Decimal there.
    if (Math.abs(n) < 1e34) return BigInt(n).toString();
  }
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  // Most decimals have no exponent: look before replacing (a template renders one per record).
  const text = String(n);
  return text.includes('e') ? text.replace('e', 'E') : text;
}

/**
 * "To String" table: numbers in standard or scientific notation, Booleans as "true"/"false",
 * Arrays and Objects serialized to JSON, Null and Undefined give `undefined`. A Buffer (a
 * payload that is not JSON) converts to its bytes read as UTF-8, which is what a rule sees
 * when it treats such a payload as text; the guide does not define this row.
 */
export function toSqlString(v: SqlValue): string | undefined {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return formatNumber(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
      return undefined;
    default:
      if (v === null) return undefined;
      if (Buffer.isBuffer(v)) return v.toString('utf8');
      return toJsonText(v);
  }
}

/**
 * The exact result of the guide's conversion tables, including the rows in which Null
 * converts to Null ("To Decimal" and "To Int"). Used for table tests and by callers that
 * need the Null row.
 */
export function convert(v: SqlValue, to: ConversionTarget): SqlValue {
  if (v === null) return to === 'Decimal' || to === 'Int' ? null : undefined;
  switch (to) {
    case 'Decimal':
      return toDecimal(v);
    case 'Int':
      return toInt(v);
    case 'Boolean':
      return toBoolean(v);
    case 'String':
      return toSqlString(v);
  }
}

/**
 * Serializes a value as JSON text, the way a rule's output reaches an action.
 * - Undefined members of objects and arrays are left out; Undefined on its own is the empty
 *   string ("Undefined is converted to an empty string when serialized by itself").
 * - A Buffer nested in a value becomes its base64 text (JSON has no bytes). An action that
 *   sends a whole binary payload takes the Buffer itself, not this text.
 * - NaN and ±Infinity, which JSON cannot hold, become null.
 */
export function toJsonText(v: SqlValue): string {
  if (v === undefined) return '';
  return JSON.stringify(toJsonValue(v)) ?? '';
}

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A copy of `v` that JSON.stringify renders as IoT SQL does (see {@link toJsonText}). */
export function toJsonValue(v: SqlValue): JsonValue | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) {
    const out: JsonValue[] = [];
    for (const item of v) {
      const j = toJsonValue(item);
      if (j !== undefined) out.push(j);
    }
    return out;
  }
  const out: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(v)) {
    const j = toJsonValue(v[key]);
    if (j !== undefined) out[key] = j;
  }
  return out;
}

/**
 * Turns parsed JSON (or any JavaScript value) into a SqlValue: `undefined` stays Undefined,
 * functions, symbols and bigints become Undefined. JSON.parse output is already a SqlValue;
 * this is for values that come from services and user code.
 */
export function fromJs(v: unknown): SqlValue {
  switch (typeof v) {
    case 'undefined':
    case 'boolean':
    case 'number':
    case 'string':
      return v;
    case 'bigint':
      return Number(v);
    case 'object': {
      if (v === null) return null;
      if (Buffer.isBuffer(v)) return v;
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (Array.isArray(v)) return v.map(fromJs);
      if (v instanceof Date) return v.toISOString();
      const out: SqlObject = {};
      for (const [key, item] of Object.entries(v)) out[key] = fromJs(item);
      return out;
    }
    default:
      return undefined;
  }
}

/**
 * Parses a payload as JSON, or returns undefined when it is not JSON (the rule then sees the
 * payload as binary). Whole numbers such as `10.0` become Int, as in SQL V2.
 */
export function parseJsonPayload(text: string): SqlValue {
  try {
    return JSON.parse(text) as SqlValue;
  } catch {
    return undefined;
  }
}

/**
 * `CAST(value AS type)`, called by the compiler (iot-sql-functions, "cast"). `typeName` is
 * matched case-insensitively against the guide's keywords: String, Nvarchar, Text, Ntext,
 * varchar, Int, Integer, Double, Decimal, Bool, Boolean. Unlike argument conversion, CAST
 * turns Booleans into numbers and numbers into Booleans, and Null casts to Undefined.
 * Decimal to Int is "rounded down to the nearest Int", which kiot reads as the guide's
 * floor() does (`floor(-1.2)` = -2). The "Cast to string" table's String row repeats the
 * Boolean row by mistake; a String casts to itself. An unknown type name returns
 * undefined; the compiler should reject it at compile time with {@link isCastTypeName}.
 */
export function castTo(value: SqlValue, typeName: string): SqlValue {
  switch (castTarget(typeName)) {
    case 'Decimal':
      if (typeof value === 'boolean') return value ? 1 : 0;
      return toDecimal(value);
    case 'Int': {
      if (typeof value === 'boolean') return value ? 1 : 0;
      const d = toDecimal(value);
      return d === undefined || !Number.isFinite(d) ? undefined : Math.floor(d) + 0;
    }
    case 'Boolean':
      if (typeof value === 'number') return value !== 0;
      return toBoolean(value);
    case 'String':
      return toSqlString(value);
    default:
      return undefined;
  }
}

/** True when `CAST(x AS typeName)` names a type kiot knows. */
export function isCastTypeName(typeName: string): boolean {
  return castTarget(typeName) !== undefined;
}

function castTarget(typeName: string): ConversionTarget | undefined {
  switch (typeName.toLowerCase()) {
    case 'decimal':
    case 'double':
      return 'Decimal';
    case 'int':
    case 'integer':
      return 'Int';
    case 'boolean':
    case 'bool':
      return 'Boolean';
    case 'string':
    case 'nvarchar':
    case 'text':
    case 'ntext':
    case 'varchar':
      return 'String';
    default:
      return undefined;
  }
}
