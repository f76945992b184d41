import { PlatformError } from '../../core/errors.js';

/** Where a problem is: a 1-based line and column in `source`. */
export interface SourcePoint {
  readonly line: number;
  readonly column: number;
}

/**
 * The one-line error rule authors see: `source:line:column: message`. `code` is
 * RULES_SQL_SYNTAX for text the grammar rejects and RULES_SQL_SEMANTIC for well-formed text
 * that cannot mean anything (unknown function, wrong argument count, bad topic filter).
 */
export function sqlError(
  code: 'RULES_SQL_SYNTAX' | 'RULES_SQL_SEMANTIC',
  source: string,
  at: SourcePoint,
  message: string,
  cause?: unknown,
): PlatformError {
  return new PlatformError(code, `${source}:${at.line}:${at.column}: ${message}`, {
    details: { source, line: at.line, column: at.column, reason: message },
    cause,
  });
}

/** Line and column (1-based) of `offset` in `text`. */
export function pointAt(text: string, offset: number): SourcePoint {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}
