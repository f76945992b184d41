/**
 * regexp_matches, regexp_replace and regexp_substr (iot-sql-functions).
 *
 * Patterns run on RE2JS, a pure-JavaScript port of RE2 (via Go's regexp), which matches in
 * time linear in the input: no pattern, however written, can stall the process, so a rule
 * author's `(a+)+$` against "aaaa...ab" costs the same as any other pattern. AWS runs Java's
 * java.util.regex; the syntax is the same for character classes, quantifiers, groups,
 * alternation, anchors, `\d \w \s \b`, named groups `(?<name>...)` and inline flags such as
 * `(?i)`. Java features that need backtracking are not available: backreferences (`\1`),
 * lookahead and lookbehind, possessive quantifiers (`a*+`) and atomic groups (`(?>...)`). A
 * pattern using them counts as invalid, so the function returns Undefined, which is what AWS
 * documents for an invalid pattern. See SEMANTICS.md.
 */
import { RE2JS } from 're2js';
import { toSqlString, type SqlValue } from '../values.js';
import { defineFunction } from './define.js';
import type { SqlFunction } from './types.js';

/** Compiled patterns by source. Rules use few distinct patterns; this bounds a hostile mix. */
const CACHE_LIMIT = 512;
const cache = new Map<string, RE2JS | null>();

/** The compiled pattern, or null when RE2 cannot compile it (invalid, or Java-only syntax). */
export function compilePattern(source: string): RE2JS | null {
  const hit = cache.get(source);
  if (hit !== undefined) return hit;
  let compiled: RE2JS | null;
  try {
    compiled = RE2JS.compile(source);
  } catch {
    compiled = null;
  }
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(source, compiled);
  return compiled;
}

/** The subject and the compiled pattern after the standard conversions, or undefined. */
function prepare(subject: SqlValue, pattern: SqlValue): [string, RE2JS] | undefined {
  const s = toSqlString(subject);
  const p = toSqlString(pattern);
  if (s === undefined || p === undefined) return undefined;
  const compiled = compilePattern(p);
  return compiled ? [s, compiled] : undefined;
}

/**
 * A replacement in Java's syntax: `$n` and `${name}` insert groups, `\x` is a literal x.
 * Returns false for what Java's Matcher rejects: a reference to a group that does not exist,
 * a `$` not followed by a group, or a trailing backslash.
 */
function validReplacement(replacement: string, groupCount: number, names: ReadonlySet<string>): boolean {
  for (let i = 0; i < replacement.length; i++) {
    const c = replacement[i];
    if (c === '\\') {
      if (i + 1 >= replacement.length) return false;
      i++;
    } else if (c === '$') {
      const next = replacement[i + 1];
      if (next === '{') {
        const close = replacement.indexOf('}', i + 2);
        if (close < 0 || !names.has(replacement.slice(i + 2, close))) return false;
        i = close;
      } else if (next !== undefined && next >= '0' && next <= '9') {
        if (Number(next) > groupCount) return false;
        i++;
      } else {
        return false;
      }
    }
  }
  return true;
}

export const REGEX_FUNCTIONS: readonly SqlFunction[] = [
  defineFunction({
    // True when the string contains a match (Java's Matcher.find()), not only a whole match.
    name: 'regexp_matches',
    minArgs: 2,
    call: ([s, p]) => {
      const prepared = prepare(s, p);
      return prepared ? prepared[1].test(prepared[0]) : undefined;
    },
  }),
  defineFunction({
    name: 'regexp_replace',
    minArgs: 3,
    call: ([s, p, r]) => {
      const prepared = prepare(s, p);
      const replacement = toSqlString(r);
      if (!prepared || replacement === undefined) return undefined;
      const [subject, pattern] = prepared;
      const names = new Set(Object.keys(pattern.namedGroups()));
      if (!validReplacement(replacement, pattern.groupCount(), names)) return undefined;
      try {
        return pattern.matcher(subject).replaceAll(replacement, true);
      } catch {
        return undefined;
      }
    },
  }),
  defineFunction({
    // The first match; Undefined when there is none.
    name: 'regexp_substr',
    minArgs: 2,
    call: ([s, p]) => {
      const prepared = prepare(s, p);
      if (!prepared) return undefined;
      const m = prepared[1].matcher(prepared[0]);
      return m.find() ? (m.group() ?? undefined) : undefined;
    },
  }),
];
