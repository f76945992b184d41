/** The machinery every action kind shares: batching, retries, error action, dead letter. */
export { ABORTED, ActionRunner, DEFAULT_MAX_BATCH_SIZE, type ActionRunnerOptions, type RecordFailed, type RecordOutcome } from './action-runner.js';
export { createActionDeps, outputBytes, type ActionDeps, type ActionDepsInit } from './deps.js';
export { awsActionName, failedResourceOf, SQL_FAILURE_ACTION, type ActionFailure, type ErrorActionMessage } from './error-message.js';
export { intOrTemplate, keyValueList, paramProblems, paramsSchema, type ParamProblem, type ParamsSchema } from './params.js';
export { DEFAULT_RETRY_POLICY, retryBoundMs, type RetryPolicy } from './retry.js';
export {
  DeadLetterWriter,
  newCounters,
  RuleActions,
  type BoundAction,
  type DeliveryDone,
  type DeliveryOutcome,
  type ErrorRecordFactory,
  type MessageInfo,
  type RuleCounters,
} from './rule-actions.js';
