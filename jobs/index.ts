/** AWS IoT Jobs: what other folders may import. */
export { createJobsService, type JobsConfig, createJobProblem, FAN_OUT_BATCH, FAN_OUT_IN_FLIGHT, JOBS_GROUP, type Jobs, type JobsService, type JobsServiceDeps } from './service.js';
export { jobStatus, progressOf, MAX_JOB_TARGETS, type AssociateTargetsInput, type CancelJobInput, type CreateJobInput, type JobProgress, type UpdateJobInput } from './commands.js';
export { statusDetailsProblem, type CancelExecutionInput, type DeleteExecutionInput, type UpdateExecutionInput } from './execution.js';
export { jobError, jobExceptionOf, type JobException } from './errors.js';
export { EXECUTION_STATUSES, JOB_LIMITS, isTerminal, secondsBeforeTimeout, type ExecutionRecord, type ExecutionStatus, type JobRecord, type JobStatus, type TemplateRecord } from './model.js';
export { executionSummary as pendingExecutionSummary } from './mqtt.js';
export { JOB_EVENT_TYPES, type JobEventType } from './events.js';
export { expiresInSec as presignedUrlExpiry, s3Location, type PresignGet } from './presign.js';
export type { ReadObject } from './document-source.js';
export type { EventConfigurationsRecord } from './model.js';
export { targetThings, type ThingMembership } from './continuous.js';
export { rolloutConfigProblem } from './rollout.js';
export { abortConfigProblem } from './abort.js';
export { retryConfigProblem } from './retry.js';
