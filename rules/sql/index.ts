/**
 * `kiot/sql`: AWS IoT SQL compiled once to JavaScript.
 *
 * ```ts
 * import { compileSql, compileTemplate } from 'kiot/sql';
 * const rule = compileSql("SELECT temperature, topic(2) AS site FROM 'factory/+/telemetry' WHERE temperature > 80");
 * if (rule.matches(topic)) {
 *   const output = rule.evaluate({ topic, payload }); // undefined when the rule does not fire
 * }
 * ```
 * Errors are PlatformErrors: RULES_SQL_SYNTAX and RULES_SQL_SEMANTIC at compile time (message
 * `source:line:column: ...`), RULES_SQL_RUNTIME when evaluation fails unexpectedly.
 */
import { defaultRuntime } from './default-runtime.js';
import { compileSqlWith, compileTemplateWithRuntime, type CompiledSql, type CompileSqlOptions, type CompileTemplateOptions } from './engine.js';
import type { CompiledTemplate } from './template.js';

export type { CompiledSql, CompileSqlOptions, CompileTemplateOptions } from './engine.js';
export type { CompiledTemplate } from './template.js';
export type { SqlInput, SqlResult, SqlVersion } from './compile.js';
export { DEFAULT_SQL_VERSION, SQL_VERSIONS, SqlMessage, createSqlMessage } from './compile.js';
export type { SqlValue } from './values.js';
export { toJsonText, toJsonValue } from './values.js';
export type { SqlContext, SqlFunction, SqlServices } from './functions/index.js';
export { defaultSqlServices } from './functions/index.js';
// topicMatches is MQTT's matching (a subscription's `a/#` matches `a`); rules match with
// RULE_TOPIC_MATCHING, as `CompiledSql.matches` and `ruleTopicMatches` do.
export { TopicFilterIndex, topicMatches, topicFilterProblem } from '../../core/topic-filter.js';
export { RULE_TOPIC_MATCHING, ruleTopicMatches, splitBasicIngest } from './topic-filter-index.js';
export { renderValue } from './template.js';
export { parseSql } from './parse.js';

/** Compiles a rule's SQL once; see {@link CompiledSql}. Throws RULES_SQL_SYNTAX / RULES_SQL_SEMANTIC. */
export function compileSql(sql: string, options?: CompileSqlOptions): CompiledSql {
  return compileSqlWith(defaultRuntime, sql, options);
}

/** Compiles a substitution template such as `alerts/${topic(2)}` once. */
export function compileTemplate(text: string, options?: CompileTemplateOptions): CompiledTemplate {
  return compileTemplateWithRuntime(defaultRuntime, text, options);
}
