/**
 * The grammar of AWS IoT SQL and of kiot rule files, as a Chevrotain CstParser. Grammar only:
 * `to-ast.ts` turns the CST into a typed AST. One shared instance lives in `parse.ts`.
 *
 * Precedence, lowest first (standard SQL; the guide lists the operators but no table):
 *   OR < AND < NOT < comparison (= <> != < <= > >=, IN, CONTAINS) < additive (+ - ||)
 *   < multiplicative (* / %) < unary (- +) < postfix (.name, [index]) < primary.
 * IN and CONTAINS sit with the comparisons, as IN does in standard SQL, so that
 * `x IN arr AND y > 1` and `NOT x IN arr` read as they do there.
 */
import type { IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import { CstParser } from './chevrotain.js';
import * as T from './tokens.js';

const describe = (token: IToken): string =>
  token.tokenType.name === 'EOF' ? 'end of input' : `'${token.image}'`;

const label = (type: TokenType): string => (type.LABEL ?? type.name);

/** Names for rules, used when too many tokens could start them to list. */
const RULE_WORDS: Record<string, string> = {
  expression: 'an expression',
  primary: 'an expression',
  unary: 'an expression',
  selectItem: 'a field, an expression or *',
  statement: 'SELECT',
  ruleFile: 'CREATE RULE',
  alias: 'a name',
};

function alternatives(paths: TokenType[][]): string {
  const first = [...new Set(paths.map((p) => p[0]).filter((t): t is TokenType => t !== undefined).map(label))];
  if (first.length === 0) return 'more input';
  if (first.length === 1) return first[0]!;
  return `${first.slice(0, -1).join(', ')} or ${first[first.length - 1]}`;
}

/** Reworded messages: always "expected X, found Y", with names a rule author knows. */
export const errorMessageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual }) {
    return `expected ${label(expected)}, found ${describe(actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected end of input, found ${describe(firstRedundant)}`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const paths = expectedPathsPerAlt.flat();
    const words = RULE_WORDS[ruleName];
    const expected = words !== undefined && paths.length > 4 ? words : alternatives(paths);
    return `expected ${expected}, found ${describe(actual[0]!)}`;
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual, ruleName }) {
    const words = RULE_WORDS[ruleName];
    const expected = words !== undefined && expectedIterationPaths.length > 4 ? words : alternatives(expectedIterationPaths);
    return `expected ${expected}, found ${describe(actual[0]!)}`;
  },
};

export class RuleSqlParser extends CstParser {
  constructor() {
    super(T.parserTokens as TokenType[], { errorMessageProvider, maxLookahead: 3, recoveryEnabled: false });
    this.performSelfAnalysis();
  }

  /** A whole SQL statement, alone in its input. */
  public sqlStatement = this.RULE('sqlStatement', () => {
    this.SUBRULE(this.statement);
    this.OPTION(() => this.CONSUME(T.Semicolon));
  });

  /** One expression alone in its input (substitution templates). */
  public templateExpression = this.RULE('templateExpression', () => {
    this.SUBRULE(this.expression);
  });

  /** A rule file: any number of `CREATE RULE ...;`. */
  public ruleFile = this.RULE('ruleFile', () => {
    this.MANY(() => this.SUBRULE(this.createRule));
  });

  public createRule = this.RULE('createRule', () => {
    this.CONSUME(T.Create);
    this.CONSUME(T.Rule);
    this.CONSUME(T.Identifier, { LABEL: 'ruleName' });
    this.OPTION(() => {
      this.CONSUME(T.Description);
      this.CONSUME(T.StringLiteral, { LABEL: 'description' });
    });
    this.OPTION2(() => {
      this.CONSUME(T.With);
      this.SUBRULE(this.paramList, { LABEL: 'options' });
    });
    this.CONSUME(T.As);
    this.SUBRULE(this.statement);
    this.CONSUME(T.Do);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.action, { LABEL: 'actions' }) });
    this.OPTION3(() => {
      this.CONSUME(T.ErrorKw);
      this.CONSUME2(T.Do);
      this.SUBRULE2(this.action, { LABEL: 'errorAction' });
    });
    this.CONSUME(T.Semicolon);
  });

  public action = this.RULE('action', () => {
    this.CONSUME(T.Identifier, { LABEL: 'kind' });
    this.SUBRULE(this.paramList);
  });

  public paramList = this.RULE('paramList', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => {
        this.CONSUME(T.Name, { LABEL: 'key' });
        this.CONSUME(T.Equals);
        this.SUBRULE(this.expression, { LABEL: 'value' });
      },
    });
    this.CONSUME(T.RParen);
  });

  public statement = this.RULE('statement', () => {
    this.OPTION(() => this.SUBRULE(this.setClause));
    this.SUBRULE(this.query);
  });

  public setClause = this.RULE('setClause', () => {
    this.CONSUME(T.SetKw);
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => {
        this.CONSUME(T.Variable);
        this.CONSUME(T.Equals);
        this.SUBRULE(this.expression);
      },
    });
  });

  public query = this.RULE('query', () => {
    this.CONSUME(T.Select);
    this.OR({
      IGNORE_AMBIGUITIES: true,
      DEF: [
      {
        // `SELECT VALUE x`; VALUE is a soft keyword, so a field named `value` needs `SELECT value AS v`.
        GATE: () => this.LA(1).tokenType === T.Value && !this.isAfterValueAName(),
        ALT: () => {
          this.CONSUME(T.Value);
          this.SUBRULE(this.expression, { LABEL: 'valueExpr' });
        },
      },
      {
        ALT: () => this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.selectItem) }),
      },
      ],
    });
    this.OPTION(() => {
      this.CONSUME(T.From);
      this.OR2({
        IGNORE_AMBIGUITIES: true,
        DEF: [
          {
            // A quoted topic filter, unless the string is the start of a longer expression.
            GATE: () => this.LA(2).tokenType !== T.Dot && this.LA(2).tokenType !== T.Concat && this.LA(2).tokenType !== T.Plus,
            ALT: () => this.CONSUME(T.StringLiteral, { LABEL: 'topic' }),
          },
          { ALT: () => this.SUBRULE2(this.expression, { LABEL: 'source' }) },
        ],
      });
      // `FROM arr AS a` in a nested query names the element (iot-sql-operators, EXISTS examples).
      this.OPTION3(() => {
        this.CONSUME2(T.As);
        this.CONSUME(T.Identifier, { LABEL: 'fromAlias' });
      });
    });
    this.OPTION2(() => {
      this.CONSUME(T.Where);
      this.SUBRULE3(this.expression, { LABEL: 'where' });
    });
  });

  /** `SELECT value FROM`, `SELECT value, x` and `SELECT value AS v` read a field named value. */
  private isAfterValueAName(): boolean {
    const next = this.LA(2).tokenType;
    return next === T.From || next === T.Comma || next === T.As || next.name === 'EOF' || next === T.Dot;
  }

  /** An expression with an optional alias; a bare `*` (read as an expression) is the whole payload. */
  public selectItem = this.RULE('selectItem', () => {
    this.SUBRULE(this.expression);
    this.OPTION(() => {
      this.OPTION2(() => this.CONSUME(T.As));
      this.SUBRULE(this.alias);
    });
  });

  /** An output key, optionally dotted (`AS state.desired.color` nests the value). */
  public alias = this.RULE('alias', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier, { LABEL: 'part' }) },
      { ALT: () => this.CONSUME(T.QuotedIdentifier, { LABEL: 'part' }) },
      { ALT: () => this.CONSUME(T.StringLiteral, { LABEL: 'part' }) },
    ]);
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.CONSUME2(T.Name, { LABEL: 'part' });
    });
  });

  public expression = this.RULE('expression', () => {
    this.SUBRULE(this.andExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.Or, { LABEL: 'operators' });
      this.SUBRULE2(this.andExpr, { LABEL: 'operands' });
    });
  });

  public andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.And, { LABEL: 'operators' });
      this.SUBRULE2(this.notExpr, { LABEL: 'operands' });
    });
  });

  public notExpr = this.RULE('notExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr, { LABEL: 'negated' });
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  public comparison = this.RULE('comparison', () => {
    this.SUBRULE(this.additive, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Equals, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.NotEq, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Less, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.LessEq, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Greater, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.GreaterEq, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.In, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Contains, { LABEL: 'operators' }) },
      ]);
      this.SUBRULE2(this.additive, { LABEL: 'operands' });
    });
  });

  public additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Plus, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Minus, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Concat, { LABEL: 'operators' }) },
      ]);
      this.SUBRULE2(this.multiplicative, { LABEL: 'operands' });
    });
  });

  public multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Percent, { LABEL: 'operators' }) },
      ]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  public unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([
            { ALT: () => this.CONSUME(T.Minus, { LABEL: 'sign' }) },
            { ALT: () => this.CONSUME(T.Plus, { LABEL: 'sign' }) },
          ]);
          this.SUBRULE(this.unary, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.postfix) },
    ]);
  });

  public postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.Dot, { LABEL: 'steps' });
            this.CONSUME(T.Name, { LABEL: 'steps' });
          },
        },
        {
          ALT: () => {
            this.CONSUME(T.LBracket, { LABEL: 'steps' });
            this.SUBRULE(this.expression, { LABEL: 'indexes' });
            this.CONSUME(T.RBracket, { LABEL: 'steps' });
          },
        },
      ]);
    });
  });

  public primary = this.RULE('primary', () => {
    this.OR({
      IGNORE_AMBIGUITIES: true,
      DEF: [
      { ALT: () => this.CONSUME(T.StringLiteral) },
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.Null) },
      { ALT: () => this.CONSUME(T.Variable) },
      { ALT: () => this.SUBRULE(this.caseExpr) },
      { ALT: () => this.SUBRULE(this.existsExpr) },
      { ALT: () => this.SUBRULE(this.arrayLiteral) },
      { ALT: () => this.SUBRULE(this.objectLiteral) },
      {
        GATE: () => this.LA(2).tokenType === T.Select,
        ALT: () => this.SUBRULE(this.subquery),
      },
      { ALT: () => this.SUBRULE(this.parenthesized) },
      {
        GATE: () => this.LA(2).tokenType === T.LParen,
        ALT: () => this.SUBRULE(this.call),
      },
      { ALT: () => this.CONSUME(T.Identifier) },
      { ALT: () => this.CONSUME(T.QuotedIdentifier) },
      // `*` as a value (function arguments such as encode(*, 'base64')).
      { ALT: () => this.CONSUME(T.Star) },
      ],
    });
  });

  /** `EXISTS (SELECT ... FROM arr ...)`: true when the nested query gives at least one element. */
  public existsExpr = this.RULE('existsExpr', () => {
    this.CONSUME(T.Exists);
    this.SUBRULE(this.subquery);
  });

  public subquery = this.RULE('subquery', () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.query);
    this.CONSUME(T.RParen);
  });

  public parenthesized = this.RULE('parenthesized', () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RParen);
  });

  public call = this.RULE('call', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.LParen);
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => {
        this.SUBRULE(this.expression, { LABEL: 'args' });
        // cast(x AS Int): the only function whose argument carries a type name.
        this.OPTION(() => {
          this.CONSUME(T.As);
          this.CONSUME2(T.Identifier, { LABEL: 'castType' });
        });
      },
    });
    this.CONSUME(T.RParen);
  });

  public caseExpr = this.RULE('caseExpr', () => {
    this.CONSUME(T.Case);
    this.OPTION(() => this.SUBRULE(this.expression, { LABEL: 'subject' }));
    this.AT_LEAST_ONE(() => {
      this.CONSUME(T.When);
      this.SUBRULE2(this.expression, { LABEL: 'whens' });
      this.CONSUME(T.Then);
      this.SUBRULE3(this.expression, { LABEL: 'thens' });
    });
    this.OPTION2(() => {
      this.CONSUME(T.Else);
      this.SUBRULE4(this.expression, { LABEL: 'otherwise' });
    });
    this.CONSUME(T.End);
  });

  public arrayLiteral = this.RULE('arrayLiteral', () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression, { LABEL: 'items' }) });
    this.CONSUME(T.RBracket);
  });

  public objectLiteral = this.RULE('objectLiteral', () => {
    this.CONSUME(T.LBrace);
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => {
        this.OR([
          { ALT: () => this.CONSUME(T.StringLiteral, { LABEL: 'keys' }) },
          { ALT: () => this.CONSUME(T.Name, { LABEL: 'keys' }) },
        ]);
        this.CONSUME(T.Colon);
        this.SUBRULE(this.expression, { LABEL: 'values' });
      },
    });
    this.CONSUME(T.RBrace);
  });
}
