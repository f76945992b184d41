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
import { createToken, Lexer, type TokenType } from 'chevrotain';

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
export const LineComment = createToken({ name: 'LineComment', pattern: /--[^\n\r]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED });

export const keywords: readonly TokenType[] = [
  Select, From, Where, As, And, Or, Not, Case, When, Then, Else, End, True, False, Null, SetKw, In, Exists, Contains, Value,
  Create, Rule, Description, With, Do, ErrorKw,
];

/** Order matters: comments before operators, longer operators first, keywords before Identifier. */
export const allTokens: readonly TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
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
