/**
 * Tokens of AWS IoT SQL (SQL version 2016-03-23) and of kiot's rule files.
 *
 * Keywords are case-insensitive and use `longer_alt: Identifier` so that `selected` stays a name.
 * Two kinds of keyword:
 * - reserved words (SELECT, FROM, WHERE, AND, CASE, ...), which can never name a field without
 *   back-quotes;
 * - soft keywords (VALUE and the rule-file words CREATE, RULE, DESCRIPTION, WITH, ERROR),
 *   which carry the `Identifier` category, so `SELECT error, value.x FROM ...` still reads
 *   fields named `error` and `value`.
 * After a `.` any word is a field name (`state.desired.select` works), via the `Name` category.
 *
 * Strings are single- or double-quoted: the guide writes `'a/b'` and also `get(x, "item2")`.
 * Back-quoted text is an identifier (`\`my-key\``), a kiot extension for names that are not
 * plain words; the guide's own answer for those is `get(obj, 'my-key')`.
 */
import type { TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.js';

/** Any word usable as a field name after `.`; every keyword and Identifier belongs to it. */
export const Name = createToken({ name: 'Name', pattern: Lexer.NA, label: 'a name' });

export const Identifier = createToken({
  name: 'Identifier',
  pattern: /[A-Za-z_][A-Za-z0-9_]*/,
  categories: [Name],
  label: 'a name',
});

export const QuotedIdentifier = createToken({
  name: 'QuotedIdentifier',
  pattern: /`(?:[^`\\]|\\.)*`/,
  categories: [Name],
  label: 'a back-quoted name',
});

export const Variable = createToken({
  name: 'Variable',
  pattern: /@[A-Za-z0-9_]+/,
  label: 'a variable (@name)',
});

function keyword(word: string, soft = false): TokenType {
  return createToken({
    name: word,
    pattern: new RegExp(word, 'i'),
    longer_alt: Identifier,
    categories: soft ? [Name, Identifier] : [Name],
    label: word,
  });
}

export const Select = keyword('SELECT');
export const From = keyword('FROM');
export const Where = keyword('WHERE');
export const As = keyword('AS');
export const And = keyword('AND');
export const Or = keyword('OR');
export const Not = keyword('NOT');
export const Case = keyword('CASE');
export const When = keyword('WHEN');
export const Then = keyword('THEN');
export const Else = keyword('ELSE');
export const End = keyword('END');
export const True = keyword('TRUE');
export const False = keyword('FALSE');
export const Null = keyword('NULL');
export const SetKw = keyword('SET');
// Membership operators (iot-sql-operators: IN, EXISTS); IN and EXISTS are reserved as in SQL.
export const In = keyword('IN');
export const Exists = keyword('EXISTS');
// `CONTAINS` is a kiot extension (the guide's operator list has no CONTAINS): soft, so that a
// payload field named `contains` stays readable.
export const Contains = keyword('CONTAINS', true);
export const Value = keyword('VALUE', true);
// Rule files only; soft (except DO, which ends a statement) so that payload fields with these names stay readable.
export const Create = keyword('CREATE', true);
export const Rule = keyword('RULE', true);
export const Description = keyword('DESCRIPTION', true);
export const With = keyword('WITH', true);
export const Do = keyword('DO');
export const ErrorKw = keyword('ERROR', true);

export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"/,
  label: 'a string',
});

export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?/,
  label: 'a number',
});

const punct = (name: string, pattern: RegExp, label: string): TokenType => createToken({ name, pattern, label });

export const LessEq = punct('LessEq', /<=/, "'<='");
export const NotEq = punct('NotEq', /<>|!=/, "'<>'");
export const GreaterEq = punct('GreaterEq', />=/, "'>='");
export const Less = punct('Less', /</, "'<'");
export const Greater = punct('Greater', />/, "'>'");
export const Equals = punct('Equals', /==?/, "'='");
export const Concat = punct('Concat', /\|\|/, "'||'");
export const Plus = punct('Plus', /\+/, "'+'");
export const Minus = punct('Minus', /-/, "'-'");
export const Star = punct('Star', /\*/, "'*'");
export const Slash = punct('Slash', /\//, "'/'");
export const Percent = punct('Percent', /%/, "'%'");
export const Comma = punct('Comma', /,/, "','");
export const Dot = punct('Dot', /\./, "'.'");
export const Colon = punct('Colon', /:/, "':'");
export const Semicolon = punct('Semicolon', /;/, "';'");
export const LParen = punct('LParen', /\(/, "'('");
export const RParen = punct('RParen', /\)/, "')'");
export const LBracket = punct('LBracket', /\[/, "'['");
export const RBracket = punct('RBracket', /]/, "']'");
export const LBrace = punct('LBrace', /{/, "'{'");
export const RBrace = punct('RBrace', /}/, "'}'");

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED });

/*
 * Comments. "Comments are not currently supported in AWS IoT SQL syntax" (iot-sql-reference),
 * so inside SQL `--` is two minus signs (`SELECT 5--1` is 6) and `/*` a slash and a star: the
 * SQL lexer has no comment tokens. Rule files are kiot's own format and may hold comments
 * between rules only, where no SQL is: the rule-file lexer knows comments in its "between"
 * mode, and a rule (from CREATE to its `;`) is lexed in the "rule" mode, which has none.
 */
export const LineComment = createToken({ name: 'LineComment', pattern: /--[^\n\r]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED });

export const keywords: readonly TokenType[] = [
  Select, From, Where, As, And, Or, Not, Case, When, Then, Else, End, True, False, Null, SetKw, In, Exists, Contains, Value,
  Create, Rule, Description, With, Do, ErrorKw,
];

/** Order matters: longer operators first, keywords before Identifier. No comments (see above). */
export const allTokens: readonly TokenType[] = [
  WhiteSpace,
  StringLiteral,
  QuotedIdentifier,
  Variable,
  NumberLiteral,
  LessEq, NotEq, GreaterEq, Less, Greater, Equals, Concat,
  Plus, Minus, Star, Slash, Percent, Comma, Dot, Colon, Semicolon,
  LParen, RParen, LBracket, RBracket, LBrace, RBrace,
  ...keywords,
  Identifier,
  Name,
];

/** CREATE where a rule file expects a rule: a CREATE keyword that starts the "rule" mode. */
export const RuleStart = createToken({
  name: 'RuleStart',
  pattern: /CREATE/i,
  longer_alt: Identifier,
  categories: [Create, Name, Identifier],
  label: 'CREATE',
  push_mode: 'rule',
});

/** The `;` that ends a rule in a rule file: back to the "between" mode. */
export const RuleEnd = createToken({ name: 'RuleEnd', pattern: /;/, categories: [Semicolon], label: "';'", pop_mode: true });

/** The rule-file lexer's modes: comments between rules, SQL (no comments) inside them. */
export const ruleFileModes = {
  modes: {
    between: [WhiteSpace, LineComment, BlockComment, RuleStart, ...allTokens.filter((t) => t !== WhiteSpace && t !== Create)],
    rule: [...allTokens.filter((t) => t !== Semicolon), RuleEnd],
  },
  defaultMode: 'between',
};

/** Every token type the parser may see (the parser's vocabulary). */
export const parserTokens: readonly TokenType[] = [...allTokens, LineComment, BlockComment, RuleStart, RuleEnd];
