/**
 * Text to AST: the lexer, the one shared parser, and syntax errors as rule authors read them
 * (`source:line:column: expected X, found Y`, code RULES_SQL_SYNTAX).
 */
import type { CstNode, ILexingError, IRecognitionException } from 'chevrotain';
import { Lexer } from './chevrotain.js';
import type { Expr, Statement } from './ast.js';
import { RuleSqlParser } from './parser.js';
import { pointAt, sqlError, type SourcePoint } from './sql-error.js';
import { AstBuilder } from './to-ast.js';
import { allTokens, ruleFileModes } from './tokens.js';

/**
 * The two lexers and the one shared parser (assigning `.input` resets it; never construct one per
 * call), built at the first parse rather than at import: a kiot whose rules dir is empty never
 * parses, and the grammar's self-analysis holds about 2 MB (issue 12: memory at rest). The
 * lexers' `ensureOptimizations` still fails the first parse, which every rules test makes.
 */
let built: { readonly lexer: Lexer; readonly ruleFileLexer: Lexer; readonly parser: RuleSqlParser } | undefined;
const syntax = () =>
  (built ??= {
    lexer: new Lexer(allTokens as never, { ensureOptimizations: true, positionTracking: 'full' }),
    // Rule files: comments between rules, none inside them (tokens.ts, "Comments").
    ruleFileLexer: new Lexer(ruleFileModes as never, { ensureOptimizations: true, positionTracking: 'full' }),
    parser: new RuleSqlParser(),
  });

const COMMENT_LIKE = /--|\/\*/;

/** Deepest bracket, CASE or prefix-operator nesting accepted; far beyond any real rule. */
export const MAX_NESTING = 64;

type EntryRule = 'sqlStatement' | 'templateExpression' | 'ruleFile';

/** Lexes and parses `text` with one entry rule; throws RULES_SQL_SYNTAX on the first error. */
export function parseCst(text: string, rule: EntryRule, source: string): CstNode {
  const { lexer, ruleFileLexer, parser } = syntax();
  const lexed = (rule === 'ruleFile' ? ruleFileLexer : lexer).tokenize(text);
  const lexError = lexed.errors[0];
  if (lexError) throw lexingError(text, source, lexError);
  let depth = 0;
  let prefix = 0;
  for (const t of lexed.tokens) {
    const name = t.tokenType.name;
    if (name === 'LParen' || name === 'LBracket' || name === 'LBrace' || name === 'CASE') depth++;
    else if (name === 'RParen' || name === 'RBracket' || name === 'RBrace' || name === 'END') depth--;
    // Chains of prefix operators (NOT NOT ..., - - ...) recurse in the parser as brackets do.
    prefix = name === 'NOT' || name === 'Minus' || name === 'Plus' ? prefix + 1 : 0;
    if (depth > MAX_NESTING || prefix > MAX_NESTING) {
      throw sqlError('RULES_SQL_SYNTAX', source, { line: t.startLine ?? 1, column: t.startColumn ?? 1 }, `expected at most ${MAX_NESTING} levels of nesting, found more`);
    }
  }
  parser.input = lexed.tokens;
  let cst: CstNode;
  try {
    cst = parser[rule]();
  } catch (err) {
    // A stack overflow on pathological input becomes a syntax error rather than a crash.
    if (err instanceof RangeError) throw sqlError('RULES_SQL_SYNTAX', source, { line: 1, column: 1 }, 'expected a simpler statement, found one too deeply nested to parse', err);
    throw err;
  }
  const parseError = parser.errors[0];
  if (parseError) throw parsingError(text, source, parseError, rule);
  return cst;
}

/** Parses one SQL statement (`[SET ...] SELECT ... [FROM ...] [WHERE ...]`). */
export function parseSql(sql: string, source = '<sql>'): Statement {
  const cst = parseCst(sql, 'sqlStatement', source);
  return new AstBuilder(source).statement(cst.children['statement']![0] as CstNode);
}

/** Parses one expression, as written inside a substitution template's `${...}`. */
export function parseExpression(text: string, source = '<expression>'): Expr {
  const cst = parseCst(text, 'templateExpression', source);
  return new AstBuilder(source).expression(cst.children['expression']![0] as CstNode);
}

function lexingError(text: string, source: string, error: ILexingError) {
  const at: SourcePoint = { line: error.line ?? pointAt(text, error.offset).line, column: error.column ?? pointAt(text, error.offset).column };
  const ch = text[error.offset] ?? '';
  let message: string;
  if (ch === "'" || ch === '"' || ch === '`') {
    message = `expected a closing ${ch} for the text that starts here, found end of input`;
  } else {
    message = `expected a name, literal or operator, found ${JSON.stringify(ch)}`;
  }
  return sqlError('RULES_SQL_SYNTAX', source, at, message);
}

function parsingError(text: string, source: string, error: IRecognitionException, rule: EntryRule) {
  const t = error.token;
  // Chevrotain reports NaN positions for the end-of-input token: point just past the text.
  const known = Number.isFinite(t.startLine) && t.tokenType.name !== 'EOF';
  const at: SourcePoint = known ? { line: t.startLine!, column: t.startColumn! } : pointAt(text, text.trimEnd().length);
  // Someone who wrote a comment gets told why it did not read as one.
  const inSql = rule === 'ruleFile' ? 'a rule file has comments only between rules; inside a rule, as in' : '';
  const hint = COMMENT_LIKE.test(text) ? ` (${inSql || 'in'} AWS IoT SQL, which has no comments, '--' is two minus signs and '/*' a slash and a star)` : '';
  return sqlError('RULES_SQL_SYNTAX', source, at, error.message + hint);
}
