/**
 * Where JSON text stops being JSON, as `line:column` and what went wrong there. Node 20's
 * JSON.parse says where only for some errors (and quotes the whole document for others), and a
 * CLI error is one line, so a failed parse is read again with `jsonc-parser` in strict JSON mode
 * (no comments, no trailing commas) for its first error and that error's offset.
 */
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';

/** `3:14: value expected, found "}"` for text that is not JSON; undefined for JSON. */
export function describeJsonError(text: string): string | undefined {
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const error = errors[0];
  if (!error) return undefined;
  const before = text.slice(0, error.offset);
  const line = before.split('\n').length;
  const column = error.offset - before.lastIndexOf('\n');
  const found = error.offset >= text.length ? 'the end of the text' : JSON.stringify(text[error.offset]);
  const what = printParseErrorCode(error.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return `${line}:${column}: ${what}, found ${found}`;
}
