/**
 * A rule model's SQL compiled with the rule's own settings: its SQL version (`WITH (sql_version
 * = ...)` in a `.sql` file, `awsIotSqlVersion` in a `.rule.json` file), its name (Basic Ingest)
 * and its file, so that a compile error names the position in the file, not in the SQL alone.
 */
import { compileSql, type CompiledSql } from '../sql/index.js';
import type { RuleModel } from './rule-files.js';

export interface CompileRuleOptions {
  /** Services for get_thing_shadow, get_dynamodb, aws_lambda, get_secret. */
  readonly services?: unknown;
  /** What accountid() returns. */
  readonly accountId?: string;
}

/**
 * Compiles `rule.sql` once. Throws RULES_SQL_SYNTAX or RULES_SQL_SEMANTIC whose message and
 * details give `file:line:column` in the rule's file.
 */
export function compileRule(rule: RuleModel, options: CompileRuleOptions = {}): CompiledSql {
  const { file, line, column } = rule.sqlSource;
  // Padding puts the SQL where it sits in its file, so positions need no translation.
  const padded = '\n'.repeat(line - 1) + ' '.repeat(column - 1) + rule.sql;
  return compileSql(padded, {
    source: file,
    sqlVersion: rule.sqlVersion,
    ruleName: rule.name,
    ...(options.services !== undefined ? { services: options.services } : {}),
    ...(options.accountId !== undefined ? { accountId: options.accountId } : {}),
  });
}
