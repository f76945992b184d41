/** The rules runtime: the worker on `iot.ingress`, its rule sources and the service factory. */
export { createRulesService, mergeListings, DEFAULT_DRAIN_TIMEOUT_MS, type FileTopicRule, type RulesListing, type RulesOperation, type RulesService, type RulesServiceDeps, type RulesServiceOptions } from './service.js';
export { RulesWorker, DEFAULT_MAX_IN_FLIGHT, DEFAULT_RULES_GROUP, type RulesWorkerOptions } from './worker.js';
export { RuleSet, originText, type RuleOrigin, type RuleState, type RuleStatus, type SourcedRule } from './rule-set.js';
export { FileRuleSource, TableRuleSource, topicRuleCodec, topicRulePayloadSchema, DEFAULT_POLL_INTERVAL_MS, type TopicRulePayload, type TopicRuleRecord } from './sources.js';
export { compileRule, compileParams, CompiledRule, type CompileRuleContext, type ParamRenderer } from './compiled-rule.js';
export { CommitTracker } from './commit-tracker.js';
