/**
 * Rule files: `*.sql` files of `CREATE RULE ...;` statements (DESIGN.md, "Rule files") and
 * `<name>.rule.json` files holding an AWS TopicRulePayload. Both become the same {@link RuleModel}.
 *
 * ```sql
 * CREATE RULE overheat
 *   DESCRIPTION 'Alert when a machine runs hot'
 *   WITH (sql_version = '2016-03-23', enabled = true)
 * AS SELECT deviceId, temperature FROM 'factory/+/telemetry' WHERE temperature > 80
 * DO dynamodbv2(table_name = 'alerts'), republish(topic = 'alerts/${topic(2)}', qos = 1)
 * ERROR DO kafka(topic = 'rule-errors');
 * ```
 * Parsing checks the shape only; {@link ./check.ts} compiles SQL and templates.
 */
import type { CstNode, IToken } from 'chevrotain';
import { basename } from 'node:path';
import { PlatformError } from '../../core/index.js';
import type { Expr } from '../sql/ast.js';
import { parseCst } from '../sql/parse.js';
import { pointAt } from '../sql/sql-error.js';
import { AstBuilder, firstToken, lastToken, nameOf, posOf, unquote } from '../sql/to-ast.js';
import { actionKind, actionKindForAwsKey, snakeCase } from './action-catalogue.js';

/** A constant value of an action parameter or option. */
export type ParamValue = null | boolean | number | string | ParamValue[] | { [key: string]: ParamValue };

export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface ActionModel {
  /** The kind as rule files write it (`dynamodbv2`), lower-case. */
  readonly type: string;
  /** Parameters in snake_case; string values may be substitution templates. */
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly source: SourceLocation;
  /** Where each parameter is written, for error messages. */
  readonly paramSources: Readonly<Record<string, SourceLocation>>;
}

export interface RuleModel {
  readonly name: string;
  readonly description: string | undefined;
  readonly sql: string;
  readonly sqlVersion: string;
  readonly enabled: boolean;
  readonly actions: readonly ActionModel[];
  readonly errorAction?: ActionModel;
  readonly source: SourceLocation;
  /**
   * Where the SQL starts in the file (line, column). The SQL of a `.sql` file is the text as
   * written, so positions inside it map to the file by adding this offset.
   */
  readonly sqlSource: SourceLocation;
}

export const DEFAULT_RULE_SQL_VERSION = '2016-03-23';

const fileError = (file: string, line: number, column: number, message: string): PlatformError =>
  new PlatformError('RULES_FILE_INVALID', `${file}:${line}:${column}: ${message}`, { details: { file, line, column, reason: message } });

/** A constant expression's value, or throws naming where it is not constant. */
function constant(expr: Expr, file: string): ParamValue {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'array':
      return expr.items.map((i) => constant(i, file));
    case 'object': {
      const out: Record<string, ParamValue> = {};
      for (const e of expr.entries) out[e.key] = constant(e.value, file);
      return out;
    }
    default:
      throw fileError(file, expr.pos.line, expr.pos.column, "expected a constant (a string, number, boolean, null, [...] or {...}); use '${...}' inside a string for values from the message");
  }
}

function params(list: CstNode, file: string, builder: AstBuilder): { values: Record<string, ParamValue>; sources: Record<string, SourceLocation> } {
  const keys = (list.children['key'] ?? []) as IToken[];
  const exprs = (list.children['value'] ?? []) as CstNode[];
  const values: Record<string, ParamValue> = {};
  const sources: Record<string, SourceLocation> = {};
  keys.forEach((k, i) => {
    const key = nameOf(k);
    if (Object.prototype.hasOwnProperty.call(values, key)) throw fileError(file, k.startLine ?? 1, k.startColumn ?? 1, `parameter ${key} is given twice`);
    Object.defineProperty(values, key, { value: constant(builder.expression(exprs[i]!), file), enumerable: true, writable: true, configurable: true });
    sources[key] = { file, line: k.startLine ?? 1, column: k.startColumn ?? 1 };
  });
  return { values, sources };
}

function action(cst: CstNode, file: string, builder: AstBuilder): ActionModel {
  const kindToken = (cst.children['kind'] as IToken[])[0]!;
  const { values, sources } = params((cst.children['paramList'] as CstNode[])[0]!, file, builder);
  return { type: kindToken.image.toLowerCase(), params: values, paramSources: sources, source: { file, line: kindToken.startLine ?? 1, column: kindToken.startColumn ?? 1 } };
}

/** Parses a `.sql` rule file. Throws RULES_SQL_SYNTAX or RULES_FILE_INVALID naming file:line:column. */
export function parseSqlRuleFile(text: string, file: string): RuleModel[] {
  const cst = parseCst(text, 'ruleFile', file);
  const builder = new AstBuilder(file);
  const rules: RuleModel[] = [];
  const seen = new Set<string>();
  for (const rule of (cst.children['createRule'] ?? []) as CstNode[]) {
    const c = rule.children;
    const nameToken = (c['ruleName'] as IToken[])[0]!;
    const name = nameToken.image;
    const at = (t: IToken): SourceLocation => ({ file, line: t.startLine ?? 1, column: t.startColumn ?? 1 });
    if (seen.has(name)) throw fileError(file, nameToken.startLine ?? 1, nameToken.startColumn ?? 1, `rule ${name} is defined twice in this file`);
    seen.add(name);
    const descriptionToken = (c['description'] as IToken[] | undefined)?.[0];
    const statement = (c['statement'] as CstNode[])[0]!;
    const start = firstToken(statement);
    const end = lastToken(statement);
    const sql = text.slice(start.startOffset, (end.endOffset ?? end.startOffset) + 1);
    let sqlVersion = DEFAULT_RULE_SQL_VERSION;
    let enabled = true;
    const optionsNode = (c['options'] as CstNode[] | undefined)?.[0];
    if (optionsNode) {
      const { values, sources } = params(optionsNode, file, builder);
      for (const [key, value] of Object.entries(values)) {
        const where = sources[key]!;
        if (key === 'sql_version' && typeof value === 'string') sqlVersion = value;
        else if (key === 'enabled' && typeof value === 'boolean') enabled = value;
        else if (key === 'sql_version' || key === 'enabled') throw fileError(file, where.line, where.column, `${key}: expected ${key === 'enabled' ? 'true or false' : "a string such as '2016-03-23'"}, found ${JSON.stringify(value)}`);
        else throw fileError(file, where.line, where.column, `unknown rule option ${key} (known: sql_version, enabled)`);
      }
    }
    const errorNode = (c['errorAction'] as CstNode[] | undefined)?.[0];
    rules.push({
      name,
      description: descriptionToken ? unquote(descriptionToken.image) : undefined,
      sql,
      sqlVersion,
      enabled,
      actions: ((c['actions'] ?? []) as CstNode[]).map((a) => action(a, file, builder)),
      ...(errorNode ? { errorAction: action(errorNode, file, builder) } : {}),
      source: at((c['Create'] as IToken[] | undefined)?.[0] ?? (c['CREATE'] as IToken[])[0]!),
      sqlSource: { file, ...posOf(start) },
    });
  }
  return rules;
}

/**
 * A rule as AWS's TopicRulePayload (what GetTopicRule answers): each action under its AWS key
 * with its parameters in camelCase, the inverse of reading a `*.rule.json` file.
 */
export function topicRulePayloadOf(model: RuleModel): { sql: string; description?: string; actions: Record<string, unknown>[]; errorAction?: Record<string, unknown>; ruleDisabled: boolean; awsIotSqlVersion: string } {
  const awsAction = (a: ActionModel) => ({ [actionKind(a.type)?.awsKey ?? a.type]: toCamelParams(a.params) });
  return {
    sql: model.sql,
    ...(model.description !== undefined ? { description: model.description } : {}),
    actions: model.actions.map(awsAction),
    ...(model.errorAction ? { errorAction: awsAction(model.errorAction) } : {}),
    ruleDisabled: !model.enabled,
    awsIotSqlVersion: model.sqlVersion,
  };
}

function toCamelParams(value: ParamValue): unknown {
  if (Array.isArray(value)) return value.map(toCamelParams);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()), { value: toCamelParams(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

function toSnakeParams(value: unknown): ParamValue {
  if (Array.isArray(value)) return value.map(toSnakeParams);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, ParamValue> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, snakeCase(k), { value: toSnakeParams(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  return null;
}

/** Line and column of the first occurrence of `"key"` in a JSON text (1:1 when absent). */
function locateKey(text: string, key: string, from = 0): { line: number; column: number; offset: number } {
  const offset = text.indexOf(JSON.stringify(key), from);
  if (offset < 0) return { line: 1, column: 1, offset: 0 };
  return { ...pointAt(text, offset), offset };
}

function jsonAction(raw: unknown, file: string, text: string, searchFrom: number): ActionModel {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || Object.keys(raw).length !== 1) {
    const at = pointAt(text, searchFrom);
    throw fileError(file, at.line, at.column, 'expected an action object with one key naming its kind, such as {"republish": {"topic": "..."}}');
  }
  const [awsKey, body] = Object.entries(raw)[0]!;
  const at = locateKey(text, awsKey, searchFrom);
  const known = actionKindForAwsKey(awsKey);
  const type = known?.type ?? snakeCase(awsKey);
  let params = toSnakeParams(body);
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw fileError(file, at.line, at.column, `action ${awsKey}: expected an object of parameters`);
  }
  // dynamoDBv2 nests its table: {"putItem": {"tableName": "t"}} -> table_name.
  const putItem = params['put_item'];
  if (type === 'dynamodbv2' && putItem !== null && typeof putItem === 'object' && !Array.isArray(putItem)) {
    const { put_item: _drop, ...rest } = params;
    params = { ...rest, ...putItem };
  }
  const paramSources: Record<string, SourceLocation> = {};
  for (const key of Object.keys(params)) paramSources[key] = { file, line: at.line, column: at.column };
  return { type, params, paramSources, source: { file, line: at.line, column: at.column } };
}

/** The rule name of `<name>.rule.json`. */
export const ruleNameOfJsonFile = (file: string): string => basename(file).replace(/\.rule\.json$/i, '');

/**
 * Parses a `<name>.rule.json` file: an AWS TopicRulePayload (`sql`, `description`, `actions`,
 * `errorAction`, `ruleDisabled`, `awsIotSqlVersion`). Throws RULES_FILE_INVALID.
 */
export function parseJsonRuleFile(text: string, file: string): RuleModel {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const match = /position (\d+)/.exec((err as Error).message);
    const at = pointAt(text, match ? Number(match[1]) : 0);
    throw fileError(file, at.line, at.column, `expected JSON (an AWS TopicRulePayload), found invalid JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw fileError(file, 1, 1, 'expected a JSON object (an AWS TopicRulePayload)');
  const payload = doc as Record<string, unknown>;
  const sqlAt = locateKey(text, 'sql');
  if (typeof payload['sql'] !== 'string') throw fileError(file, sqlAt.line, sqlAt.column, 'sql: expected a string holding the rule SQL');
  const known = new Set(['sql', 'description', 'actions', 'errorAction', 'ruleDisabled', 'awsIotSqlVersion']);
  for (const key of Object.keys(payload)) {
    if (!known.has(key)) {
      const at = locateKey(text, key);
      throw fileError(file, at.line, at.column, `unknown TopicRulePayload field ${key} (known: ${[...known].join(', ')})`);
    }
  }
  const actionsRaw = payload['actions'] ?? [];
  if (!Array.isArray(actionsRaw)) {
    const at = locateKey(text, 'actions');
    throw fileError(file, at.line, at.column, 'actions: expected an array');
  }
  const actionsFrom = locateKey(text, 'actions').offset;
  const actions = actionsRaw.map((a) => jsonAction(a, file, text, actionsFrom));
  const errorFrom = locateKey(text, 'errorAction').offset;
  const errorAction = payload['errorAction'] === undefined ? undefined : jsonAction(payload['errorAction'], file, text, errorFrom);
  const version = payload['awsIotSqlVersion'];
  const disabled = payload['ruleDisabled'];
  const description = payload['description'];
  // The SQL string's first character sits just after the quote that opens its value.
  const valueQuote = text.indexOf('"', text.indexOf(':', sqlAt.offset + 5));
  const sqlStart = pointAt(text, valueQuote + 1);
  return {
    name: ruleNameOfJsonFile(file),
    description: typeof description === 'string' ? description : undefined,
    sql: payload['sql'],
    sqlVersion: typeof version === 'string' ? version : DEFAULT_RULE_SQL_VERSION,
    enabled: disabled !== true,
    actions,
    ...(errorAction ? { errorAction } : {}),
    source: { file, line: 1, column: 1 },
    sqlSource: { file, line: sqlStart.line, column: sqlStart.column },
  };
}
