/**
 * Turns the parser's CST into the typed AST of `ast.ts`. Runs once per rule, at compile time.
 * Checks that need more than the grammar (variable names, CAST's type argument, a top-level
 * FROM that is not a quoted topic) raise RULES_SQL_SEMANTIC with the position.
 */
import type { CstElement, CstNode, IToken } from 'chevrotain';
import type { BinaryOperator, Expr, FromClause, Position, Projection, Query, SelectItem, Statement, VariableAssignment } from './ast.js';
import { sqlError } from './sql-error.js';

type Children = Record<string, CstElement[] | undefined>;

const isToken = (e: CstElement): e is IToken => (e as IToken).image !== undefined;

function nodes(children: Children, key: string): CstNode[] {
  return (children[key] ?? []) as CstNode[];
}
function tokens(children: Children, key: string): IToken[] {
  return (children[key] ?? []) as IToken[];
}
function node(children: Children, key: string): CstNode | undefined {
  return children[key]?.[0] as CstNode | undefined;
}
function token(children: Children, key: string): IToken | undefined {
  return children[key]?.[0] as IToken | undefined;
}

export const posOf = (t: IToken): Position => ({ line: t.startLine ?? 1, column: t.startColumn ?? 1, offset: t.startOffset });

/** The first token under a CST node (by offset), for positions. */
export function firstToken(n: CstNode): IToken {
  let best: IToken | undefined;
  for (const list of Object.values(n.children)) {
    for (const e of list ?? []) {
      const t = isToken(e) ? e : firstToken(e);
      if (best === undefined || t.startOffset < best.startOffset) best = t;
    }
  }
  if (best === undefined) throw new Error('empty CST node');
  return best;
}

/** The last token under a CST node (by offset). */
export function lastToken(n: CstNode): IToken {
  let best: IToken | undefined;
  for (const list of Object.values(n.children)) {
    for (const e of list ?? []) {
      const t = isToken(e) ? e : lastToken(e);
      if (best === undefined || t.startOffset > best.startOffset) best = t;
    }
  }
  if (best === undefined) throw new Error('empty CST node');
  return best;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '0': '\0' };

/**
 * The value of a quoted string: `'...'` or `"..."`, where a doubled quote or a backslash
 * escape (\n \t \r \b \f \0 \uXXXX, and \x for any other x) stands for one character.
 */
export function unquote(image: string): string {
  const quote = image[0]!;
  const body = image.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\' && i + 1 < body.length) {
      const next = body[++i]!;
      if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(body.slice(i + 1, i + 5))) {
        out += String.fromCharCode(parseInt(body.slice(i + 1, i + 5), 16));
        i += 4;
      } else {
        out += ESCAPES[next] ?? next;
      }
    } else if (c === quote && body[i + 1] === quote) {
      out += quote;
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

/** A name token's text: back-quoted names lose their quotes. */
export function nameOf(t: IToken): string {
  return t.tokenType.name === 'QuotedIdentifier' ? unquote(t.image) : t.image;
}

const BINARY_OPS: Record<string, BinaryOperator> = {
  Or: 'or', OR: 'or', And: 'and', AND: 'and',
  Equals: '=', NotEq: '<>', Less: '<', LessEq: '<=', Greater: '>', GreaterEq: '>=', IN: 'in', CONTAINS: 'contains',
  Plus: '+', Minus: '-', Concat: '||', Star: '*', Slash: '/', Percent: '%',
};

/** Converts CST to AST for one source text; `source` names it in errors. */
export class AstBuilder {
  constructor(private readonly source: string) {}

  statement(cst: CstNode): Statement {
    const c = cst.children as Children;
    const set: VariableAssignment[] = [];
    const setNode = node(c, 'setClause');
    if (setNode) {
      const sc = setNode.children as Children;
      const vars = tokens(sc, 'Variable');
      const exprs = nodes(sc, 'expression');
      vars.forEach((v, i) => {
        const name = v.image.slice(1);
        if (name.length > 64) throw sqlError('RULES_SQL_SEMANTIC', this.source, posOf(v), `variable names are at most 64 characters, found @${name.slice(0, 20)}...`);
        if (set.some((s) => s.name === name)) throw sqlError('RULES_SQL_SEMANTIC', this.source, posOf(v), `variable @${name} is assigned twice (variables are immutable)`);
        set.push({ name, expr: this.expression(exprs[i]!), pos: posOf(v) });
      });
    }
    const queryNode = node(c, 'query')!;
    const query = this.query(queryNode, true);
    return { set, query, startOffset: firstToken(cst).startOffset, endOffset: lastToken(cst).endOffset ?? lastToken(cst).startOffset };
  }

  query(cst: CstNode, topLevel: boolean): Query {
    const c = cst.children as Children;
    const selectToken = token(c, 'SELECT')!;
    let select: Projection;
    const valueExpr = node(c, 'valueExpr');
    if (valueExpr) {
      select = { kind: 'value', expr: this.expression(valueExpr) };
    } else {
      select = { kind: 'items', items: nodes(c, 'selectItem').map((n) => this.selectItem(n)) };
    }
    let from: FromClause | undefined;
    const topic = token(c, 'topic');
    const source = node(c, 'source');
    const aliasToken = token(c, 'fromAlias');
    if (aliasToken && topLevel) {
      throw sqlError('RULES_SQL_SEMANTIC', this.source, posOf(aliasToken), 'expected WHERE or end of statement after the topic filter, found AS (only a nested query names its element with AS)');
    }
    const alias = aliasToken ? { alias: aliasToken.image } : {};
    if (topic) {
      from = topLevel
        ? { kind: 'topic', filter: unquote(topic.image), pos: posOf(topic) }
        : { kind: 'expr', expr: { kind: 'literal', value: unquote(topic.image), pos: posOf(topic) }, ...alias, pos: posOf(topic) };
    } else if (source) {
      const pos = posOf(firstToken(source));
      if (topLevel) throw sqlError('RULES_SQL_SEMANTIC', this.source, pos, "expected a quoted topic filter after FROM, such as 'devices/+/telemetry'");
      from = { kind: 'expr', expr: this.expression(source), ...alias, pos };
    } else if (!topLevel) {
      throw sqlError('RULES_SQL_SEMANTIC', this.source, posOf(selectToken), 'a nested SELECT needs FROM naming the array it queries');
    }
    const whereNode = node(c, 'where');
    return {
      select,
      ...(from ? { from } : {}),
      ...(whereNode ? { where: this.expression(whereNode) } : {}),
      pos: posOf(selectToken),
    };
  }

  selectItem(cst: CstNode): SelectItem {
    const c = cst.children as Children;
    const exprNode = node(c, 'expression')!;
    const expr = this.expression(exprNode);
    const aliasNode = node(c, 'alias');
    if (expr.kind === 'wildcard' && !aliasNode) return { kind: 'star', pos: expr.pos };
    const alias = aliasNode
      ? tokens(aliasNode.children as Children, 'part').map((t) => (t.tokenType.name === 'StringLiteral' ? unquote(t.image) : nameOf(t)))
      : [defaultKey(expr)];
    return { kind: 'expr', expr, alias, pos: posOf(firstToken(exprNode)) };
  }

  expression(cst: CstNode): Expr {
    switch (cst.name) {
      case 'expression':
      case 'andExpr':
      case 'comparison':
      case 'additive':
      case 'multiplicative':
        return this.binaryChain(cst);
      case 'notExpr':
        return this.notExpr(cst);
      case 'unary':
        return this.unary(cst);
      case 'postfix':
        return this.postfix(cst);
      case 'primary':
        return this.primary(cst);
      default:
        throw new Error(`unexpected CST node ${cst.name}`);
    }
  }

  private binaryChain(cst: CstNode): Expr {
    const c = cst.children as Children;
    const operands = nodes(c, 'operands');
    const operators = tokens(c, 'operators');
    let left = this.expression(operands[0]!);
    operators.forEach((op, i) => {
      const right = this.expression(operands[i + 1]!);
      left = { kind: 'binary', op: BINARY_OPS[op.tokenType.name]!, left, right, pos: posOf(op) };
    });
    return left;
  }

  private notExpr(cst: CstNode): Expr {
    const c = cst.children as Children;
    const notToken = token(c, 'NOT');
    if (notToken) return { kind: 'unary', op: 'not', operand: this.expression(node(c, 'negated')!), pos: posOf(notToken) };
    return this.expression(node(c, 'comparison')!);
  }

  private unary(cst: CstNode): Expr {
    const c = cst.children as Children;
    const sign = token(c, 'sign');
    if (!sign) return this.expression(node(c, 'postfix')!);
    const operand = this.expression(node(c, 'operand')!);
    const op = sign.tokenType.name === 'Minus' ? '-' : '+';
    // Fold signs on number literals so that `-122.3` is a constant.
    if (operand.kind === 'literal' && typeof operand.value === 'number') {
      return { kind: 'literal', value: op === '-' ? -operand.value : operand.value, ...(operand.decimal ? { decimal: true } : {}), pos: posOf(sign) };
    }
    return { kind: 'unary', op, operand, pos: posOf(sign) };
  }

  private postfix(cst: CstNode): Expr {
    const c = cst.children as Children;
    let expr = this.expression(node(c, 'primary')!);
    const steps = tokens(c, 'steps');
    const indexes = nodes(c, 'indexes');
    let indexNo = 0;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.tokenType.name === 'Dot') {
        const nameToken = steps[++i]!;
        expr = { kind: 'member', object: expr, name: nameOf(nameToken), pos: posOf(nameToken) };
      } else {
        // LBracket, then the index expression, then RBracket.
        expr = { kind: 'index', object: expr, index: this.expression(indexes[indexNo++]!), pos: posOf(step) };
        i++;
      }
    }
    return expr;
  }

  private primary(cst: CstNode): Expr {
    const c = cst.children as Children;
    const [key, list] = Object.entries(c).find(([, v]) => v !== undefined && v.length > 0)!;
    const first = list![0]!;
    if (isToken(first)) {
      const pos = posOf(first);
      switch (key) {
        case 'StringLiteral':
          return { kind: 'literal', value: unquote(first.image), pos };
        case 'NumberLiteral':
          return { kind: 'literal', value: Number(first.image), ...(/[.eE]/.test(first.image) ? { decimal: true } : {}), pos };
        case 'TRUE':
          return { kind: 'literal', value: true, pos };
        case 'FALSE':
          return { kind: 'literal', value: false, pos };
        case 'NULL':
          return { kind: 'literal', value: null, pos };
        case 'Variable':
          return { kind: 'variable', name: first.image.slice(1), pos };
        case 'Star':
          return { kind: 'wildcard', pos };
        default:
          return { kind: 'field', name: nameOf(first), pos };
      }
    }
    switch (first.name) {
      case 'parenthesized':
        return this.expression(node(first.children as Children, 'expression')!);
      case 'subquery':
        return { kind: 'subquery', query: this.query(node(first.children as Children, 'query')!, false), pos: posOf(firstToken(first)) };
      case 'existsExpr': {
        const sub = node(first.children as Children, 'subquery')!;
        return { kind: 'exists', query: this.query(node(sub.children as Children, 'query')!, false), pos: posOf(firstToken(first)) };
      }
      case 'call':
        return this.call(first);
      case 'caseExpr':
        return this.caseExpr(first);
      case 'arrayLiteral':
        return { kind: 'array', items: nodes(first.children as Children, 'items').map((n) => this.expression(n)), pos: posOf(firstToken(first)) };
      case 'objectLiteral': {
        const oc = first.children as Children;
        const keys = tokens(oc, 'keys');
        const values = nodes(oc, 'values');
        return {
          kind: 'object',
          entries: keys.map((k, i) => ({ key: k.tokenType.name === 'StringLiteral' ? unquote(k.image) : nameOf(k), value: this.expression(values[i]!) })),
          pos: posOf(firstToken(first)),
        };
      }
      default:
        throw new Error(`unexpected CST node ${first.name}`);
    }
  }

  private call(cst: CstNode): Expr {
    const c = cst.children as Children;
    const nameToken = token(c, 'name')!;
    const name = nameToken.image.toLowerCase();
    const args = nodes(c, 'args').map((n) => this.expression(n));
    const castTypes = tokens(c, 'castType');
    const pos = posOf(nameToken);
    if (name === 'cast') {
      if (args.length !== 1 || castTypes.length !== 1) {
        throw sqlError('RULES_SQL_SEMANTIC', this.source, pos, 'expected cast(value AS type), for example cast(temperature AS Int)');
      }
      return { kind: 'cast', operand: args[0]!, type: castTypes[0]!.image, pos };
    }
    if (castTypes.length > 0) {
      throw sqlError('RULES_SQL_SEMANTIC', this.source, posOf(castTypes[0]!), `expected ',' or ')' in the arguments of ${name}(), found AS (only cast() takes AS)`);
    }
    return { kind: 'call', name, args, pos };
  }

  private caseExpr(cst: CstNode): Expr {
    const c = cst.children as Children;
    const subject = node(c, 'subject');
    const whens = nodes(c, 'whens');
    const thens = nodes(c, 'thens');
    const otherwise = node(c, 'otherwise');
    return {
      kind: 'case',
      ...(subject ? { subject: this.expression(subject) } : {}),
      whens: whens.map((w, i) => ({ when: this.expression(w), then: this.expression(thens[i]!) })),
      ...(otherwise ? { otherwise: this.expression(otherwise) } : {}),
      pos: posOf(token(c, 'CASE')!),
    };
  }
}

/**
 * The output key of an item without AS: a path's last name (`color.red` gives `red`), a
 * function's name (`timestamp()` gives `timestamp`), a variable's name, else `_N` is filled in
 * by the compiler from the item's position. The guide's examples always alias computed values.
 */
function defaultKey(expr: Expr): string {
  switch (expr.kind) {
    case 'field':
    case 'member':
    case 'variable':
    case 'call':
      return expr.name;
    case 'cast':
      return 'cast';
    default:
      return '';
  }
}
