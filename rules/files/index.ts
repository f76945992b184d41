/** Rule files (`*.sql` with CREATE RULE, `<name>.rule.json` TopicRulePayloads) and their checks. */
export { ACTION_KINDS, actionKind, actionKindForAwsKey, retiredAction, snakeCase, validateActionParams, type ActionKind } from './action-catalogue.js';
export { compileRule, type CompileRuleOptions } from './compile-rule.js';
export { checkRules, checkRuleText, findRuleFiles, formatProblem, isRuleFile, parseRuleFile, type LoadedRules, type RuleProblem } from './check.js';
export {
  DEFAULT_RULE_SQL_VERSION,
  parseJsonRuleFile,
  parseSqlRuleFile,
  topicRulePayloadOf,
  ruleNameOfJsonFile,
  type ActionModel,
  type ParamValue,
  type RuleModel,
  type SourceLocation,
} from './rule-files.js';
