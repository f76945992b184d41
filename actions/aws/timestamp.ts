/**
 * The `{value, unit}` timestamps of the timestream and location actions (AWS IoT API reference,
 * TimestreamTimestamp and LocationTimestamp): `value` is a template that renders to an integer
 * count of `unit` (SECONDS, MILLISECONDS, MICROSECONDS or NANOSECONDS; default MILLISECONDS).
 */
import { z } from 'zod';

export const TIMESTAMP_UNITS = ['SECONDS', 'MILLISECONDS', 'MICROSECONDS', 'NANOSECONDS'] as const;
export type TimestampUnit = (typeof TIMESTAMP_UNITS)[number];

export const timestampParam = z.strictObject({ value: z.string().min(1), unit: z.enum(TIMESTAMP_UNITS).optional() });

const PER_MS: Record<TimestampUnit, number> = { SECONDS: 1e-3, MILLISECONDS: 1, MICROSECONDS: 1e3, NANOSECONDS: 1e6 };

/**
 * The rendered timestamp as a whole count of its unit (a string, since nanoseconds pass 2^53),
 * or, when none is given, `fallbackMs` in milliseconds; a string problem when the value is not an integer.
 */
export function renderTimestamp(ts: { value: string; unit?: TimestampUnit | undefined } | undefined, fallbackMs: number): { value: string; unit: TimestampUnit; ms: number } | string {
  if (ts === undefined) return { value: String(fallbackMs), unit: 'MILLISECONDS', ms: fallbackMs };
  const unit = ts.unit ?? 'MILLISECONDS';
  const text = ts.value.trim();
  if (!/^\d+$/.test(text)) return `timestamp.value ${JSON.stringify(ts.value)} is not a whole number of ${unit.toLowerCase()}`;
  return { value: text, unit, ms: Number(text) / PER_MS[unit] };
}
