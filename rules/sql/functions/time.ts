/**
 * parse_time and time_to_epoch (iot-sql-functions), with the date arithmetic they share.
 *
 * - parse_time(pattern, timestamp[, zone]) formats with Joda-Time pattern letters
 *   (G C Y y x w e E D M d a K h H k m s S z Z and quoted text), in the named zone (default
 *   "UTC"). Zones come from the ICU data built into Node (Intl), so every IANA id works;
 *   fixed offsets such as "+01:00" and "UTC+01:00" work too. Short zone names (`z`) are the
 *   ones ICU prints for en-US: "CST" for America/Belize as in the guide's example, but
 *   "GMT+1" where Joda would print "CET". An unknown zone or pattern letter is Undefined.
 * - time_to_epoch(text, pattern) parses with java.time DateTimeFormatter letters
 *   (G u y M L d D E a h K k H m s S n V z O X x Z and quoted text) and returns ms since
 *   the epoch. Like Java's default SMART resolver, a day past the end of the month
 *   resolves to the month's last day. Fields the pattern leaves out default to 1970-01-01
 *   00:00:00 UTC. Text that does not match the whole pattern is Undefined.
 */
import type { SqlValue } from '../values.js';
import { defineFunction, numArg } from './define.js';
import type { SqlFunction } from './types.js';

const MS_PER_DAY = 86_400_000;

// -------------------------------------------------------------------------------------------
// Zones
// -------------------------------------------------------------------------------------------

/** A zone: a fixed offset, or an IANA region resolved through Intl. */
type Zone = { readonly id: string; readonly fixedOffsetMs?: number };

const offsetFormats = new Map<string, Intl.DateTimeFormat>();
const nameFormats = new Map<string, Intl.DateTimeFormat>();
const longNameFormats = new Map<string, Intl.DateTimeFormat>();

function intlFormat(cache: Map<string, Intl.DateTimeFormat>, zone: string, option: 'longOffset' | 'short' | 'long'): Intl.DateTimeFormat {
  let f = cache.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: option });
    cache.set(zone, f);
  }
  return f;
}

const FIXED_OFFSET = /^(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?$/;

/** Resolves a zone id, or undefined when neither Intl nor the offset syntax knows it. */
export function resolveZone(id: string): Zone | undefined {
  if (id === 'Z' || id === 'UTC' || id === 'GMT' || id === 'UT' || id === 'Etc/UTC') return { id: 'UTC', fixedOffsetMs: 0 };
  const fixed = FIXED_OFFSET.exec(id);
  if (fixed) {
    const hours = Number(fixed[2]);
    const minutes = Number(fixed[3] ?? 0);
    const seconds = Number(fixed[4] ?? 0);
    if (hours > 18 || minutes > 59 || seconds > 59) return undefined;
    const sign = fixed[1] === '-' ? -1 : 1;
    return { id, fixedOffsetMs: sign * ((hours * 60 + minutes) * 60 + seconds) * 1000 };
  }
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(id)) return undefined;
  try {
    intlFormat(offsetFormats, id, 'longOffset');
    return { id };
  } catch {
    return undefined;
  }
}

/** The zone's offset from UTC at an instant, in ms. */
function offsetAt(zone: Zone, epochMs: number): number {
  if (zone.fixedOffsetMs !== undefined) return zone.fixedOffsetMs;
  const part = intlFormat(offsetFormats, zone.id, 'longOffset')
    .formatToParts(epochMs)
    .find((p) => p.type === 'timeZoneName')?.value;
  const m = part ? /GMT([+-])(\d{2}):(\d{2})(?::(\d{2}))?/.exec(part) : null;
  if (!m) return 0; // "GMT" on its own
  const sign = m[1] === '-' ? -1 : 1;
  return sign * ((Number(m[2]) * 60 + Number(m[3])) * 60 + Number(m[4] ?? 0)) * 1000;
}

/** The instant at which the zone's wall clock shows `localMs` (wall time read as UTC). */
function instantOf(zone: Zone, localMs: number): number {
  let guess = localMs - offsetAt(zone, localMs);
  guess = localMs - offsetAt(zone, guess); // once more, for instants near a DST change
  return guess;
}

function zoneName(zone: Zone, epochMs: number, long: boolean): string {
  if (zone.fixedOffsetMs !== undefined) return zone.fixedOffsetMs === 0 ? 'UTC' : formatOffset(zone.fixedOffsetMs, true);
  const f = intlFormat(long ? longNameFormats : nameFormats, zone.id, long ? 'long' : 'short');
  return f.formatToParts(epochMs).find((p) => p.type === 'timeZoneName')?.value ?? zone.id;
}

function formatOffset(offsetMs: number, colon: boolean): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const total = Math.abs(offsetMs) / 60_000;
  const hh = String(Math.floor(total / 60)).padStart(2, '0');
  const mm = String(total % 60).padStart(2, '0');
  return colon ? `${sign}${hh}:${mm}` : `${sign}${hh}${mm}`;
}

// -------------------------------------------------------------------------------------------
// Patterns: runs of one letter, quoted text ('' is a quote) and other characters as literals.
// -------------------------------------------------------------------------------------------

type Token = { readonly letter: string; readonly count: number } | { readonly text: string };

function tokenize(pattern: string): Token[] | undefined {
  const tokens: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === "'") {
      if (pattern[i + 1] === "'") {
        tokens.push({ text: "'" });
        i += 2;
        continue;
      }
      let text = '';
      i++;
      for (;;) {
        if (i >= pattern.length) return undefined; // unterminated quote
        if (pattern[i] === "'") {
          if (pattern[i + 1] === "'") {
            text += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += pattern[i];
        i++;
      }
      tokens.push({ text });
    } else if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (pattern[j] === c) j++;
      tokens.push({ letter: c, count: j - i });
      i = j;
    } else {
      tokens.push({ text: c });
      i++;
    }
  }
  return tokens;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** Calendar fields of a wall-clock time held as ms since the epoch read in UTC. */
function fields(localMs: number) {
  const d = new Date(localMs);
  const year = d.getUTCFullYear();
  const dayOfWeek = ((d.getUTCDay() + 6) % 7) + 1; // 1 = Monday ... 7 = Sunday (ISO)
  const dayOfYear = Math.floor((Date.UTC(year, d.getUTCMonth(), d.getUTCDate()) - Date.UTC(year, 0, 1)) / MS_PER_DAY) + 1;
  // ISO week: the week with the year's first Thursday is week 1.
  const thursday = new Date(Date.UTC(year, d.getUTCMonth(), d.getUTCDate() + 4 - dayOfWeek));
  const weekYear = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(weekYear, 0, 1)) / MS_PER_DAY / 7) + 1;
  return {
    year,
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    ms: d.getUTCMilliseconds(),
    dayOfWeek,
    dayOfYear,
    weekYear,
    week,
  };
}

const pad = (n: number, width: number): string => (n < 0 ? '-' + String(-n).padStart(width, '0') : String(n).padStart(width, '0'));

/** Joda prints a year with two letters as its last two digits, otherwise zero-padded to the count. */
const yearText = (y: number, count: number): string => (count === 2 ? pad(((y % 100) + 100) % 100, 2) : pad(y, count));

/** Formats an instant with a Joda-Time pattern; undefined for an unknown letter. */
export function formatJoda(pattern: string, epochMs: number, zone: Zone): string | undefined {
  const tokens = tokenize(pattern);
  if (!tokens) return undefined;
  const offset = offsetAt(zone, epochMs);
  const f = fields(epochMs + offset);
  const yearOfEra = f.year > 0 ? f.year : 1 - f.year;
  let out = '';
  for (const t of tokens) {
    if ('text' in t) {
      out += t.text;
      continue;
    }
    const n = t.count;
    switch (t.letter) {
      case 'G': out += f.year > 0 ? 'AD' : 'BC'; break;
      case 'C': out += pad(Math.floor(yearOfEra / 100), n); break;
      case 'Y': out += yearText(yearOfEra, n); break;
      case 'y': out += yearText(f.year, n); break;
      case 'x': out += yearText(f.weekYear, n); break;
      case 'w': out += pad(f.week, n); break;
      case 'e': out += pad(f.dayOfWeek, n); break;
      case 'E': { const name = DAYS[f.dayOfWeek - 1] as string; out += n >= 4 ? name : name.slice(0, 3); break; }
      case 'D': out += pad(f.dayOfYear, n); break;
      case 'M': {
        const name = MONTHS[f.month - 1] as string;
        out += n >= 4 ? name : n === 3 ? name.slice(0, 3) : pad(f.month, n);
        break;
      }
      case 'd': out += pad(f.day, n); break;
      case 'a': out += f.hour < 12 ? 'AM' : 'PM'; break;
      case 'K': out += pad(f.hour % 12, n); break;
      case 'h': out += pad(f.hour % 12 === 0 ? 12 : f.hour % 12, n); break;
      case 'H': out += pad(f.hour, n); break;
      case 'k': out += pad(f.hour === 0 ? 24 : f.hour, n); break;
      case 'm': out += pad(f.minute, n); break;
      case 's': out += pad(f.second, n); break;
      case 'S': out += String(f.ms).padStart(3, '0').padEnd(n, '0').slice(0, n); break;
      case 'z': out += zoneName(zone, epochMs, n >= 4); break;
      case 'Z': out += n >= 3 ? zone.id : formatOffset(offset, n === 2); break;
      default: return undefined;
    }
  }
  return out;
}

// -------------------------------------------------------------------------------------------
// Parsing (time_to_epoch)
// -------------------------------------------------------------------------------------------

/**
 * Zone abbreviations java.time's `z` parser maps to regions, for the ones rule authors meet
 * most. Region ids and offsets are accepted as well.
 */
const ZONE_ABBREVIATIONS: Readonly<Record<string, string>> = {
  EST: 'America/New_York', EDT: 'America/New_York',
  CST: 'America/Chicago', CDT: 'America/Chicago',
  MST: 'America/Denver', MDT: 'America/Denver',
  PST: 'America/Los_Angeles', PDT: 'America/Los_Angeles',
  AKST: 'America/Anchorage', AKDT: 'America/Anchorage',
  HST: 'Pacific/Honolulu',
  WET: 'Europe/Lisbon', WEST: 'Europe/Lisbon',
  BST: 'Europe/London',
  CET: 'Europe/Paris', CEST: 'Europe/Paris',
  EET: 'Europe/Athens', EEST: 'Europe/Athens',
  IST: 'Asia/Kolkata', JST: 'Asia/Tokyo', KST: 'Asia/Seoul',
  AEST: 'Australia/Sydney', AEDT: 'Australia/Sydney',
};

interface Parsed {
  year?: number; month?: number; day?: number; dayOfYear?: number;
  hour?: number; hour12?: number; pm?: boolean; minute?: number; second?: number; nanos?: number;
  zone?: Zone; bc?: boolean; twoDigitYear?: boolean;
}

/** Parses `text` with a java.time pattern into ms since the epoch, or undefined. */
export function parseJavaTime(text: string, pattern: string): number | undefined {
  const tokens = tokenize(pattern);
  if (!tokens) return undefined;
  const p: Parsed = {};
  let pos = 0;

  const digits = (min: number, max: number): number | undefined => {
    let end = pos;
    while (end < text.length && end - pos < max && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) end++;
    if (end - pos < min) return undefined;
    const value = Number(text.slice(pos, end));
    pos = end;
    return value;
  };
  const word = (names: readonly string[], short: boolean): number | undefined => {
    for (let i = 0; i < names.length; i++) {
      const name = short ? (names[i] as string).slice(0, 3) : (names[i] as string);
      if (text.slice(pos, pos + name.length).toLowerCase() === name.toLowerCase()) {
        pos += name.length;
        return i;
      }
    }
    return undefined;
  };
  const zoneText = (): Zone | undefined => {
    const m = /^(?:[A-Za-z][A-Za-z0-9_\-]*(?:\/[A-Za-z0-9_+\-]+)*(?:[+-]\d{1,2}(?::?\d{2})?)?|[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?)/.exec(text.slice(pos));
    if (!m) return undefined;
    const id = m[0];
    const zone = ZONE_ABBREVIATIONS[id] !== undefined ? resolveZone(ZONE_ABBREVIATIONS[id]) : resolveZone(id);
    if (zone) pos += id.length;
    return zone;
  };

  for (const t of tokens) {
    if ('text' in t) {
      if (text.slice(pos, pos + t.text.length) !== t.text) return undefined;
      pos += t.text.length;
      continue;
    }
    const n = t.count;
    let value: number | undefined;
    switch (t.letter) {
      case 'G': {
        const era = word(['AD', 'BC'], false);
        if (era === undefined) return undefined;
        p.bc = era === 1;
        break;
      }
      case 'u':
      case 'y':
        if (n === 2) {
          value = digits(2, 2);
          p.twoDigitYear = true;
        } else {
          value = digits(Math.max(1, n), 10);
        }
        if (value === undefined) return undefined;
        p.year = value;
        break;
      case 'M':
      case 'L':
        value = n >= 4 ? word(MONTHS, false) : n === 3 ? word(MONTHS, true) : undefined;
        if (n >= 3) {
          if (value === undefined) return undefined;
          p.month = value + 1;
        } else {
          value = digits(n, 2);
          if (value === undefined) return undefined;
          p.month = value;
        }
        break;
      case 'd': value = digits(n, 2); if (value === undefined) return undefined; p.day = value; break;
      case 'D': value = digits(n, 3); if (value === undefined) return undefined; p.dayOfYear = value; break;
      case 'E':
      case 'e':
        // The day of the week is checked by Java against the date; kiot reads and skips it.
        if (word(DAYS, n < 4) === undefined) return undefined;
        break;
      case 'a': {
        const half = word(['AM', 'PM'], false);
        if (half === undefined) return undefined;
        p.pm = half === 1;
        break;
      }
      case 'h': value = digits(n, 2); if (value === undefined || value < 1 || value > 12) return undefined; p.hour12 = value % 12; break;
      case 'K': value = digits(n, 2); if (value === undefined || value > 11) return undefined; p.hour12 = value; break;
      case 'k': value = digits(n, 2); if (value === undefined || value < 1 || value > 24) return undefined; p.hour = value % 24; break;
      case 'H': value = digits(n, 2); if (value === undefined || value > 23) return undefined; p.hour = value; break;
      case 'm': value = digits(n, 2); if (value === undefined || value > 59) return undefined; p.minute = value; break;
      case 's': value = digits(n, 2); if (value === undefined || value > 59) return undefined; p.second = value; break;
      case 'S': {
        const start = pos;
        value = digits(n, n);
        if (value === undefined) return undefined;
        p.nanos = Number(text.slice(start, pos).padEnd(9, '0').slice(0, 9));
        break;
      }
      case 'n': value = digits(1, 9); if (value === undefined) return undefined; p.nanos = value; break;
      case 'V':
      case 'z':
      case 'O':
      case 'X':
      case 'x':
      case 'Z': {
        const zone = zoneText();
        if (!zone) return undefined;
        p.zone = zone;
        break;
      }
      default:
        return undefined;
    }
  }
  if (pos !== text.length) return undefined;

  let year = p.year ?? 1970;
  if (p.twoDigitYear) year += 2000; // java.time reads "yy" in the range 2000-2099
  if (p.bc) year = 1 - year;
  let hour = p.hour ?? 0;
  if (p.hour12 !== undefined) hour = p.hour12 + (p.pm ? 12 : 0);
  let dateMs: number;
  if (p.dayOfYear !== undefined && p.month === undefined && p.day === undefined) {
    dateMs = Date.UTC(year, 0, 1) + (p.dayOfYear - 1) * MS_PER_DAY;
  } else {
    const month = p.month ?? 1;
    const day = p.day ?? 1;
    if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
    const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
    dateMs = Date.UTC(year, month - 1, Math.min(day, lastDay)); // SMART: clamp to the month's end
  }
  const dateUtc = new Date(dateMs);
  dateUtc.setUTCFullYear(year); // Date.UTC maps years 0-99 to 1900-1999
  const localMs = dateUtc.getTime() + ((hour * 60 + (p.minute ?? 0)) * 60 + (p.second ?? 0)) * 1000 + Math.floor((p.nanos ?? 0) / 1e6);
  const zone = p.zone ?? { id: 'UTC', fixedOffsetMs: 0 };
  return instantOf(zone, localMs);
}

export const TIME_FUNCTIONS: readonly SqlFunction[] = [
  defineFunction({
    name: 'parse_time',
    minArgs: 2,
    maxArgs: 3,
    call: ([pattern, timestamp, zoneId]: readonly SqlValue[]) => {
      if (typeof pattern !== 'string') return undefined;
      const ms = numArg(timestamp);
      if (ms === undefined || !Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return undefined;
      const zone = resolveZone(zoneId === undefined ? 'UTC' : typeof zoneId === 'string' ? zoneId : '');
      return zone ? formatJoda(pattern, Math.floor(ms), zone) : undefined;
    },
  }),
  defineFunction({
    name: 'time_to_epoch',
    minArgs: 2,
    call: ([text, pattern]) => {
      if (typeof text !== 'string' || typeof pattern !== 'string') return undefined;
      const ms = parseJavaTime(text, pattern);
      return ms === undefined || !Number.isFinite(ms) ? undefined : ms;
    },
  }),
];
