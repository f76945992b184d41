/**
 * Where JSON text stops being JSON, as `line:column` and what was expected there. JSON.parse
 * says where only for some errors (Node 20: "Unexpected token '}', "<the whole text>" is not
 * valid JSON" has no position and quotes the whole document), and a CLI error is one line, so
 * a failed parse is scanned again here (RFC 8259's grammar) for its first error.
 */

const LITERAL = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /[0-9a-fA-F]{4}/y;

class Stop {
  constructor(readonly offset: number, readonly expected: string) {}
}

/** The first syntax error of `text`: its offset and what was expected there; undefined when `text` is JSON. */
export function jsonSyntaxError(text: string): { offset: number; expected: string } | undefined {
  let i = 0;
  const stop = (expected: string): never => {
    throw new Stop(i, expected);
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = () => {
    i++; // the opening quote
    for (;;) {
      const c = text[i];
      if (c === undefined) stop("a closing '\"'");
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const next = text[i + 1];
        HEX4.lastIndex = i + 2;
        if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2;
        else if (next === 'u' && HEX4.test(text)) i += 6;
        else {
          i++;
          stop('an escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)');
        }
      } else if (c!.charCodeAt(0) < 0x20) stop('no control character inside a string (escape it)');
      else i++;
    }
  };
  // Iterative over an explicit stack of open containers, so deep nesting cannot overflow the call stack.
  const open: ('{' | '[')[] = [];
  const value = () => {
    space();
    const c = text[i];
    if (c === '{' || c === '[') {
      i++;
      space();
      if (text[i] === (c === '{' ? '}' : ']')) {
        i++;
        return false;
      }
      open.push(c);
      if (c === '{') key();
      return true; // a member's value follows
    }
    if (c === '"') string();
    else {
      LITERAL.lastIndex = i;
      const m = LITERAL.exec(text);
      if (!m) stop('a value');
      i += m![0].length;
    }
    return false;
  };
  const key = () => {
    space();
    if (text[i] !== '"') stop("a '\"'-quoted member name");
    string();
    space();
    if (text[i] !== ':') stop("':'");
    i++;
  };
  try {
    let opened = value();
    while (opened || open.length > 0) {
      if (opened) {
        opened = value();
        continue;
      }
      space();
      const top = open[open.length - 1]!;
      const close = top === '{' ? '}' : ']';
      if (text[i] === ',') {
        i++;
        if (top === '{') key();
        opened = value();
      } else if (text[i] === close) {
        i++;
        open.pop();
      } else stop(`',' or '${close}'`);
    }
    space();
    if (i < text.length) stop('the end of the document');
    return undefined;
  } catch (err) {
    if (err instanceof Stop) return { offset: err.offset, expected: err.expected };
    throw err;
  }
}

/** `3:14: expected ',' or '}', found '"'` for text that is not JSON; undefined for JSON. */
export function describeJsonError(text: string): string | undefined {
  const error = jsonSyntaxError(text);
  if (!error) return undefined;
  const before = text.slice(0, error.offset);
  const line = before.split('\n').length;
  const column = error.offset - before.lastIndexOf('\n');
  const found = error.offset >= text.length ? 'the end of the text' : JSON.stringify(text[error.offset]);
  return `${line}:${column}: expected ${error.expected}, found ${found}`;
}
