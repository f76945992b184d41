/**
 * The AWS IoT Jobs control plane (API reference, "AWS IoT"): CreateJob, DescribeJob, ListJobs,
 * CancelJob, DeleteJob, AssociateTargetsWithJob, GetJobDocument, DescribeJobExecution, ListJobExecutionsForJob,
 * ListJobExecutionsForThing, CancelJobExecution and DeleteJobExecution, with the paths,
 * members and exceptions `@aws-sdk/client-iot` sends and reads. CreateJob's targets (thing and
 * static thing-group ARNs, nested groups included) are resolved here from the registry, so the
 * jobs service itself needs no registry. See jobs/README.md.
 */
import { iotArn, nameFromArn, paginate, type ArnScope, type ThingRegistry } from '../../registry/index.js';
import {
  EXECUTION_STATUSES,
  JOB_LIMITS,
  abortConfigProblem,
  createJobProblem,
  retryConfigProblem,
  rolloutConfigProblem,
  jobError,
  jobExceptionOf,
  pendingExecutionSummary,
  presignedUrlExpiry,
  secondsBeforeTimeout,
  statusDetailsProblem,
  targetThings,
  type CreateJobInput,
  type ExecutionRecord,
  type ExecutionStatus,
  type JobRecord,
  type Jobs,
  type TemplateRecord,
  type ThingMembership,
} from '../../jobs/index.js';
import { PlatformError } from '../../core/index.js';
import type { AwsOperation, AwsRequest } from '../operation.js';
import { authorize as authorizeOnThing } from './shadow.js';
import { bodyObject, epochSeconds, optionalInteger, optionalObject, optionalString, optionalBoolean, optionalStringList, pageRequest, queryBoolean, queryInteger, queryString } from './aws-input.js';

/** What CreateJob reads of the registry to resolve its targets. */
export type JobTargetRegistry = Pick<ThingRegistry, 'thing' | 'thingGroup' | 'thingGroups' | 'things'>;

const JOB_STATUSES = ['IN_PROGRESS', 'CANCELED', 'COMPLETED', 'DELETION_IN_PROGRESS', 'SCHEDULED'];
/** CreateJob members kiot keeps and answers as given (jobs/README.md says which it acts on). */
const KEPT_CONFIGS = ['presignedUrlConfig', 'jobExecutionsRolloutConfig', 'abortConfig', 'timeoutConfig', 'jobExecutionsRetryConfig', 'documentParameters'] as const;
/** CreateJob members kiot refuses rather than ignore. */
const UNSUPPORTED = ['schedulingConfig', 'destinationPackageVersions', 'maintenanceWindows'] as const;
/** The configs a job template keeps (CreateJobTemplate's members; documentParameters is CreateJob's only). */
const TEMPLATE_CONFIGS = KEPT_CONFIGS.filter((m) => m !== 'documentParameters');

const invalid = (message: string) => jobError('InvalidRequestException', message);

/**
 * The jobs data plane (`@aws-sdk/client-iot-jobs-data-plane`, `aws iot-jobs-data`) signs as
 * `iot-jobs-data`; the control plane as `iot`. Two of their operations share method and path
 * (GetPendingJobExecutions and ListJobExecutionsForThing, and both DescribeJobExecution), so
 * the signing name says which one was called.
 */
const DATA_PLANE_SIGNING_NAMES: ReadonlySet<string> = new Set(['iot-jobs-data', 'iotjobsdata']);
const isDataPlane = (request: AwsRequest): boolean => DATA_PLANE_SIGNING_NAMES.has(request.caller?.service ?? '');

/** The control plane's policy check, for an operation that shares its route with the data plane (`access: 'self'`). */
function authorizeControl(request: AwsRequest, name: string): void {
  const caller = request.caller;
  if (caller && (caller.admin || caller.allowsOperation(name))) return;
  throw new PlatformError('AUTH_FORBIDDEN', `User: ${request.accessKeyId} is not authorized to perform: iot:${name}`, { details: { awsErrorType: 'AccessDeniedException', awsStatus: 403 } });
}

/**
 * The data plane's exceptions: it has no VersionConflictException, and answers a stale
 * expectedVersion as an invalid state transition (409).
 */
function dataPlaneError(err: unknown): unknown {
  return jobExceptionOf(err) === 'VersionConflictException' ? jobError('InvalidStateTransitionException', (err as Error).message) : err;
}

function pathName(request: AwsRequest, label: 'jobId' | 'thingName' | 'jobTemplateId'): string {
  const value = request.params[label]!;
  if (!(label === 'thingName' ? JOB_LIMITS.thingName : JOB_LIMITS.jobId).test(value)) throw invalid(`${label} must match ${label === 'thingName' ? '[a-zA-Z0-9:_-]{1,128}' : '[a-zA-Z0-9_-]{1,64}'}, received ${JSON.stringify(value)}`);
  return value;
}

function refuseUnsupported(body: Record<string, unknown>): void {
  for (const member of UNSUPPORTED) if (body[member] !== undefined && body[member] !== null) throw invalid(`${member} is not supported by kiot yet; pass the job document inline as document`);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], field: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw invalid(`${field} must be one of ${allowed.join(', ')}, received ${JSON.stringify(value)}`);
  return value as T;
}

/** The configs a CreateJob or UpdateJob body gives, checked where kiot acts on them (timeoutConfig). */
function readConfigs(body: Record<string, unknown>, members: readonly string[]): Record<string, unknown> {
  const configs: Record<string, unknown> = {};
  for (const member of members) {
    const value = optionalObject(body, member);
    if (value !== undefined) configs[member] = value;
  }
  // presignedUrlConfig.expiresInSec: 60 to 3600 (jobs/presign.ts).
  if (configs['presignedUrlConfig'] !== undefined) presignedUrlExpiry(configs['presignedUrlConfig']);
  const minutes = (configs['timeoutConfig'] as { inProgressTimeoutInMinutes?: unknown } | undefined)?.inProgressTimeoutInMinutes;
  if (minutes !== undefined && !(Number.isInteger(minutes) && (minutes as number) >= 1 && (minutes as number) <= JOB_LIMITS.stepTimeoutMaxMinutes)) {
    throw invalid('timeoutConfig.inProgressTimeoutInMinutes must be a whole number of minutes from 1 to 10080');
  }
  const problem =
    (configs['jobExecutionsRolloutConfig'] !== undefined ? rolloutConfigProblem(configs['jobExecutionsRolloutConfig']) : undefined) ??
    (configs['abortConfig'] !== undefined ? abortConfigProblem(configs['abortConfig']) : undefined) ??
    (configs['jobExecutionsRetryConfig'] !== undefined ? retryConfigProblem(configs['jobExecutionsRetryConfig']) : undefined);
  if (problem) throw invalid(problem);
  return configs;
}

/** One page of `items` as a list operation answers it: `{ <member>: [...], nextToken? }`. */
function listPage<T>(request: AwsRequest, member: string, items: Iterable<T>, sortKey: (item: T) => string, shape: (item: T) => unknown): Record<string, unknown> {
  const result = paginate(items, sortKey, pageRequest(request));
  return { [member]: result.items.map(shape), ...(result.nextToken ? { nextToken: result.nextToken } : {}) };
}

/**
 * CreateJob's targets checked against the registry: the things named by thing ARNs and the
 * groups named by thing-group ARNs, every one existing. Their things are read as a stream
 * (`targetThings`), not here.
 */
export function resolveTargets(registry: JobTargetRegistry, targets: readonly string[]): { thingNames: string[]; groups: string[] } {
  const thingNames: string[] = [];
  const groups: string[] = [];
  for (const arn of targets) {
    const thingName = nameFromArn(arn, 'thing');
    if (thingName !== undefined) {
      if (!registry.thing(thingName)) throw jobError('ResourceNotFoundException', `Thing ${thingName} does not exist`);
      thingNames.push(thingName);
      continue;
    }
    const groupName = nameFromArn(arn, 'thinggroup');
    if (groupName === undefined) throw invalid(`targets: ${JSON.stringify(arn)} is not a thing or thing group ARN`);
    if (!registry.thingGroup(groupName)) throw jobError('ResourceNotFoundException', `Thing group ${groupName} does not exist`);
    groups.push(groupName);
  }
  return { thingNames, groups };
}

/** The groups and every group below them (a group's parent is set once, at creation). */
function coveredGroups(registry: Pick<ThingRegistry, 'thingGroups'>, groups: readonly string[]): Set<string> {
  const children = new Map<string, string[]>();
  for (const g of registry.thingGroups()) if (g.parentGroupName !== undefined) children.set(g.parentGroupName, [...(children.get(g.parentGroupName) ?? []), g.thingGroupName]);
  const covered = new Set<string>();
  const stack = [...groups];
  for (let g = stack.pop(); g !== undefined; g = stack.pop()) {
    if (covered.has(g)) continue;
    covered.add(g);
    stack.push(...(children.get(g) ?? []));
  }
  return covered;
}

/** Which things are in which groups, read from this process's registry view. */
function groupMembers(registry: JobTargetRegistry): Pick<ThingMembership, 'thingsIn' | 'isIn'> {
  return {
    *thingsIn(groupNames) {
      const covered = coveredGroups(registry, groupNames);
      for (const t of registry.things()) if (t.groups.some((m) => covered.has(m.groupName))) yield t.thingName;
    },
    isIn(thingName, groupNames) {
      const thing = registry.thing(thingName);
      if (!thing || thing.groups.length === 0) return false;
      const covered = coveredGroups(registry, groupNames);
      return thing.groups.some((m) => covered.has(m.groupName));
    },
  };
}

/**
 * Thing-group membership as the jobs service follows it for CONTINUOUS jobs (jobs/continuous.ts),
 * read from this process's registry view: a thing's change reaches the listener when its
 * groups changed, or it was created or deleted.
 */
export function thingGroupMembership(registry: JobTargetRegistry & Pick<ThingRegistry, 'onChange'>): ThingMembership {
  const groupsOf = (t: { groups: readonly { groupName: string }[] } | undefined) => (t?.groups ?? []).map((m) => m.groupName).sort().join('\n');
  return {
    ...groupMembers(registry),
    onThingChange(listener) {
      return registry.onChange((change) => {
        if (change.kind !== 'thing') return;
        if (change.previous === undefined || change.value === undefined || groupsOf(change.previous) !== groupsOf(change.value)) listener(change.name);
      });
    },
  };
}

export function jobOperations(jobs: Jobs, registry: JobTargetRegistry, scope: ArnScope): AwsOperation[] {
  const jobArn = (jobId: string) => iotArn(scope, 'job', jobId);
  const members = groupMembers(registry);
  const thingArn = (thingName: string) => iotArn(scope, 'thing', thingName);

  const existingJob = (jobId: string): JobRecord => {
    const job = jobs.job(jobId);
    if (!job) throw jobError('ResourceNotFoundException', `Job ${jobId} does not exist`);
    return job;
  };

  const templateArn = (jobTemplateId: string) => iotArn(scope, 'jobtemplate', jobTemplateId);
  const existingTemplate = (jobTemplateId: string): TemplateRecord => {
    const template = jobs.template(jobTemplateId);
    if (!template) throw jobError('ResourceNotFoundException', `Job template ${jobTemplateId} does not exist`);
    return template;
  };
  const templateIdOf = (arn: string): string => {
    const m = /^arn:[^:]+:iot:[^:]*:[^:]*:jobtemplate\/([a-zA-Z0-9_-]{1,64})$/.exec(arn);
    if (!m) throw invalid(`jobTemplateArn: ${JSON.stringify(arn)} is not a job template ARN`);
    return m[1]!;
  };

  const jobShape = (job: JobRecord) => {
    const progress = jobs.progress(job.jobId);
    const status = jobs.status(job);
    const n = progress.counts;
    const lastUpdatedAt = Math.max(job.lastUpdatedAt, progress.lastUpdatedAt);
    const completedAt = job.completedAt ?? (status === 'COMPLETED' ? lastUpdatedAt : undefined);
    return {
      jobArn: jobArn(job.jobId),
      jobId: job.jobId,
      targetSelection: job.targetSelection,
      status,
      forceCanceled: job.forceCanceled ?? false,
      ...(job.reasonCode !== undefined ? { reasonCode: job.reasonCode } : {}),
      ...(job.comment !== undefined ? { comment: job.comment } : {}),
      targets: job.targets,
      ...(job.description !== undefined ? { description: job.description } : {}),
      ...job.configs,
      createdAt: epochSeconds(job.createdAt),
      lastUpdatedAt: epochSeconds(lastUpdatedAt),
      ...(completedAt !== undefined ? { completedAt: epochSeconds(completedAt) } : {}),
      jobProcessDetails: {
        ...(job.processingTargets !== undefined ? { processingTargets: job.processingTargets } : {}),
        numberOfCanceledThings: n.CANCELED,
        numberOfSucceededThings: n.SUCCEEDED,
        numberOfFailedThings: n.FAILED,
        numberOfRejectedThings: n.REJECTED,
        numberOfQueuedThings: n.QUEUED,
        numberOfInProgressThings: n.IN_PROGRESS,
        numberOfRemovedThings: n.REMOVED,
        numberOfTimedOutThings: n.TIMED_OUT,
      },
      isConcurrent: false,
    };
  };

  const executionSummary = (e: ExecutionRecord) => ({
    status: e.status,
    queuedAt: epochSeconds(e.queuedAt),
    ...(e.startedAt !== undefined ? { startedAt: epochSeconds(e.startedAt) } : {}),
    lastUpdatedAt: epochSeconds(e.lastUpdatedAt),
    executionNumber: e.executionNumber,
    retryAttempt: e.retryAttempt ?? 0,
  });

  const executionShape = (thingName: string, e: ExecutionRecord, now: number) => ({
    jobId: e.jobId,
    status: e.status,
    forceCanceled: e.forceCanceled ?? false,
    statusDetails: { detailsMap: e.statusDetails ?? {} },
    thingArn: thingArn(thingName),
    queuedAt: epochSeconds(e.queuedAt),
    ...(e.startedAt !== undefined ? { startedAt: epochSeconds(e.startedAt) } : {}),
    lastUpdatedAt: epochSeconds(e.lastUpdatedAt),
    executionNumber: e.executionNumber,
    versionNumber: e.versionNumber,
    ...secondsBeforeTimeout(e, now),
  });

  /** JobExecution as the jobs data plane answers it. */
  const dataPlaneExecution = (thingName: string, e: ExecutionRecord, jobDocument: string | undefined) => ({
    jobId: e.jobId,
    thingName,
    status: e.status,
    statusDetails: e.statusDetails ?? {},
    queuedAt: Math.floor(e.queuedAt / 1000),
    ...(e.startedAt !== undefined ? { startedAt: Math.floor(e.startedAt / 1000) } : {}),
    lastUpdatedAt: Math.floor(e.lastUpdatedAt / 1000),
    ...secondsBeforeTimeout(e, Date.now()),
    versionNumber: e.versionNumber,
    executionNumber: e.executionNumber,
    ...(jobDocument !== undefined ? { jobDocument } : {}),
  });

  /** The document a CreateJob or CreateJobTemplate body gives inline, or read from its documentSource (S3). */
  const documentOf = async (body: Record<string, unknown>): Promise<string | undefined> => {
    const inline = optionalString(body, 'document');
    const source = optionalString(body, 'documentSource');
    if (inline !== undefined && source !== undefined) throw invalid('give document or documentSource, not both');
    return source === undefined ? inline : jobs.documentFromSource(source);
  };

  const executionStatusFilter = (request: AwsRequest) => oneOf<ExecutionStatus>(queryString(request, 'status'), EXECUTION_STATUSES, 'status');

  return [
    {
      name: 'CreateJob',
      method: 'PUT',
      path: '/jobs/{jobId}',
      async handle(request) {
        const jobId = pathName(request, 'jobId');
        const body = bodyObject(request);
        refuseUnsupported(body);
        const targets = optionalStringList(body, 'targets');
        if (!targets || targets.length === 0) throw invalid('targets must name at least one thing or thing group');
        // A job from a template: the template's document and configs, each overridden by the request's.
        const templateArn = optionalString(body, 'jobTemplateArn');
        const template = templateArn === undefined ? undefined : existingTemplate(templateIdOf(templateArn));
        const document = (await documentOf(body)) ?? template?.document;
        if (document === undefined) throw invalid('document or documentSource is required');
        const targetSelection = oneOf(optionalString(body, 'targetSelection'), ['SNAPSHOT', 'CONTINUOUS'] as const, 'targetSelection') ?? 'SNAPSHOT';
        const description = optionalString(body, 'description');
        const configs = { ...template?.configs, ...readConfigs(body, KEPT_CONFIGS), ...(templateArn !== undefined ? { jobTemplateArn: templateArn } : {}) };
        const { thingNames, groups } = resolveTargets(registry, targets);
        const input: CreateJobInput = { jobId, targets, targetSelection, document, ...(description !== undefined ? { description } : {}), thingGroupNames: groups, configs };
        await jobs.createJob(input, targetThings(members, thingNames, groups));
        return { jobArn: jobArn(jobId), jobId, ...(description !== undefined ? { description } : {}) };
      },
    },
    {
      name: 'DescribeJob',
      method: 'GET',
      path: '/jobs/{jobId}',
      async handle(request) {
        return { job: jobShape(existingJob(pathName(request, 'jobId'))) };
      },
    },
    {
      name: 'ListJobs',
      method: 'GET',
      path: '/jobs',
      async handle(request) {
        const status = oneOf(queryString(request, 'status'), JOB_STATUSES, 'status');
        const targetSelection = oneOf(queryString(request, 'targetSelection'), ['SNAPSHOT', 'CONTINUOUS'], 'targetSelection');
        const thingGroupName = queryString(request, 'thingGroupName');
        const thingGroupId = queryString(request, 'thingGroupId');
        const groupById = thingGroupId === undefined ? undefined : [...registry.thingGroups()].find((g) => g.thingGroupId === thingGroupId)?.thingGroupName;
        const matching = [...jobs.jobs()].filter(
          (job) =>
            (status === undefined || jobs.status(job) === status) &&
            (targetSelection === undefined || job.targetSelection === targetSelection) &&
            (thingGroupName === undefined || job.thingGroupNames.includes(thingGroupName)) &&
            (thingGroupId === undefined || (groupById !== undefined && job.thingGroupNames.includes(groupById))),
        );
        return listPage(request, 'jobs', matching, (job) => job.jobId, (job) => {
          const full = jobShape(job);
          const group = job.thingGroupNames[0] === undefined ? undefined : registry.thingGroup(job.thingGroupNames[0])?.thingGroupId;
          return {
            jobArn: full.jobArn,
            jobId: full.jobId,
            ...(group !== undefined ? { thingGroupId: group } : {}),
            targetSelection: full.targetSelection,
            status: full.status,
            createdAt: full.createdAt,
            lastUpdatedAt: full.lastUpdatedAt,
            ...(full.completedAt !== undefined ? { completedAt: full.completedAt } : {}),
            isConcurrent: false,
          };
        });
      },
    },
    {
      name: 'UpdateJob',
      method: 'PATCH',
      path: '/jobs/{jobId}',
      async handle(request) {
        const jobId = pathName(request, 'jobId');
        const body = bodyObject(request);
        const description = optionalString(body, 'description');
        if (description !== undefined && description.length > JOB_LIMITS.descriptionLength) throw invalid(`description must be at most ${JOB_LIMITS.descriptionLength} characters`);
        const configs = readConfigs(body, TEMPLATE_CONFIGS);
        await jobs.updateJob({ jobId, ...(description !== undefined ? { description } : {}), configs });
        return {};
      },
    },
    {
      name: 'CancelJob',
      method: 'PUT',
      path: '/jobs/{jobId}/cancel',
      async handle(request) {
        const jobId = pathName(request, 'jobId');
        const body = bodyObject(request);
        const reasonCode = optionalString(body, 'reasonCode');
        const comment = optionalString(body, 'comment');
        if (reasonCode !== undefined && !JOB_LIMITS.reasonCode.test(reasonCode)) throw invalid('reasonCode must be at most 128 letters, digits, spaces or _.,/=+@-');
        if (comment !== undefined && comment.length > JOB_LIMITS.commentLength) throw invalid(`comment must be at most ${JOB_LIMITS.commentLength} characters`);
        const job = await jobs.cancelJob({ jobId, force: (queryBoolean(request, 'force') ?? false), ...(reasonCode !== undefined ? { reasonCode } : {}), ...(comment !== undefined ? { comment } : {}) });
        return { jobArn: jobArn(jobId), jobId, ...(job.description !== undefined ? { description: job.description } : {}) };
      },
    },
    {
      name: 'AssociateTargetsWithJob',
      method: 'POST',
      path: '/jobs/{jobId}/targets',
      async handle(request) {
        const jobId = pathName(request, 'jobId');
        const body = bodyObject(request);
        const targets = optionalStringList(body, 'targets');
        if (!targets || targets.length === 0) throw invalid('targets must name at least one thing group');
        const comment = optionalString(body, 'comment');
        if (comment !== undefined && comment.length > JOB_LIMITS.commentLength) throw invalid(`comment must be at most ${JOB_LIMITS.commentLength} characters`);
        existingJob(jobId);
        if (targets.some((arn) => nameFromArn(arn, 'thinggroup') === undefined)) throw invalid('targets must be thing group ARNs');
        const { thingNames, groups } = resolveTargets(registry, targets);
        const job = await jobs.associateTargets({ jobId, targets, thingGroupNames: groups, ...(comment !== undefined ? { comment } : {}) }, targetThings(members, thingNames, groups));
        return { jobArn: jobArn(jobId), jobId, ...(job.description !== undefined ? { description: job.description } : {}) };
      },
    },
    {
      name: 'DeleteJob',
      method: 'DELETE',
      path: '/jobs/{jobId}',
      async handle(request) {
        await jobs.deleteJob({ jobId: pathName(request, 'jobId'), force: (queryBoolean(request, 'force') ?? false) });
        return {};
      },
    },
    {
      name: 'GetJobDocument',
      method: 'GET',
      path: '/jobs/{jobId}/job-document',
      async handle(request) {
        return { document: existingJob(pathName(request, 'jobId')).document };
      },
    },
    {
      name: 'ListJobExecutionsForJob',
      method: 'GET',
      path: '/jobs/{jobId}/things',
      async handle(request) {
        const jobId = pathName(request, 'jobId');
        existingJob(jobId);
        const status = executionStatusFilter(request);
        // Read as a stream (a job may have 100,000 executions): paginate keeps one page of them.
        const matching = function* () {
          for (const entry of jobs.executionsOfJob(jobId)) if (status === undefined || entry[1].status === status) yield entry;
        };
        return listPage(request, 'executionSummaries', matching(), ([thing]) => thing, ([thing, e]) => ({ thingArn: thingArn(thing), jobExecutionSummary: executionSummary(e) }));
      },
    },
    {
      name: 'ListJobExecutionsForThing',
      method: 'GET',
      path: '/things/{thingName}/jobs',
      access: 'self',
      async handle(request) {
        const thingName = pathName(request, 'thingName');
        if (isDataPlane(request)) {
          // The data plane's GetPendingJobExecutions.
          authorizeOnThing(request, 'GetPendingJobExecutions', scope, thingName);
          const pending = await jobs.pending(thingName);
          return { inProgressJobs: pending.filter((e) => e.status === 'IN_PROGRESS').map(pendingExecutionSummary), queuedJobs: pending.filter((e) => e.status === 'QUEUED').map(pendingExecutionSummary) };
        }
        authorizeControl(request, 'ListJobExecutionsForThing');
        const status = executionStatusFilter(request);
        const jobId = queryString(request, 'jobId');
        const matching = jobs.executionsOfThing(thingName).filter((e) => (status === undefined || e.status === status) && (jobId === undefined || e.jobId === jobId));
        // Oldest first, as queued; the token holds the execution number (zero-padded so that it sorts).
        return listPage(request, 'executionSummaries', matching, (e) => String(e.executionNumber).padStart(12, '0'), (e) => ({ jobId: e.jobId, jobExecutionSummary: executionSummary(e) }));
      },
    },
    {
      name: 'DescribeJobExecution',
      method: 'GET',
      path: '/things/{thingName}/jobs/{jobId}',
      access: 'self',
      async handle(request) {
        const thingName = pathName(request, 'thingName');
        const dataPlane = isDataPlane(request);
        if (dataPlane) authorizeOnThing(request, 'DescribeJobExecution', scope, thingName);
        else authorizeControl(request, 'DescribeJobExecution');
        const jobId = request.params['jobId'] === '$next' && dataPlane ? '$next' : pathName(request, 'jobId');
        const executionNumber = queryInteger(request, 'executionNumber');
        const e = jobId === '$next' ? (await jobs.pending(thingName))[0] : jobs.execution(thingName, jobId);
        if (!e || (executionNumber !== undefined && e.executionNumber !== executionNumber)) throw jobError('ResourceNotFoundException', `Job execution of job ${jobId} on thing ${thingName} does not exist`);
        if (!dataPlane) return { execution: executionShape(thingName, e, Date.now()) };
        // The data plane's JobExecution: statusDetails as a plain map, the job document as text (includeJobDocument, default true).
        const document = (queryBoolean(request, 'includeJobDocument') ?? true) ? await jobs.deviceDocument(e.jobId) : undefined;
        return { execution: dataPlaneExecution(thingName, e, document) };
      },
    },
    {
      name: 'UpdateJobExecution',
      method: 'POST',
      path: '/things/{thingName}/jobs/{jobId}',
      access: 'self',
      async handle(request) {
        const thingName = pathName(request, 'thingName');
        const jobId = pathName(request, 'jobId');
        authorizeOnThing(request, 'UpdateJobExecution', scope, thingName);
        const body = bodyObject(request);
        const status = optionalString(body, 'status');
        if (status === undefined) throw invalid('status is required');
        const statusDetails = optionalObject(body, 'statusDetails') as Record<string, string> | undefined;
        const numbers: Partial<Record<'expectedVersion' | 'executionNumber' | 'stepTimeoutInMinutes', number>> = {};
        for (const member of ['expectedVersion', 'executionNumber', 'stepTimeoutInMinutes'] as const) {
          const value = optionalInteger(body, member);
          if (value !== undefined) numbers[member] = value;
        }
        const updated = await jobs.updateExecution({ thingName, jobId, status, ...(statusDetails ? { statusDetails } : {}), ...numbers }).catch((err: unknown) => Promise.reject(dataPlaneError(err)));
        const document = optionalBoolean(body, 'includeJobDocument') ? await jobs.deviceDocument(jobId) : undefined;
        return {
          ...(optionalBoolean(body, 'includeJobExecutionState') ? { executionState: { status: updated.status, statusDetails: updated.statusDetails ?? {}, versionNumber: updated.versionNumber } } : {}),
          ...(document !== undefined ? { jobDocument: document } : {}),
        };
      },
    },
    {
      name: 'StartNextPendingJobExecution',
      method: 'PUT',
      path: '/things/{thingName}/jobs/$next',
      access: 'self',
      async handle(request) {
        const thingName = pathName(request, 'thingName');
        authorizeOnThing(request, 'StartNextPendingJobExecution', scope, thingName);
        const body = bodyObject(request);
        const statusDetails = optionalObject(body, 'statusDetails') as Record<string, string> | undefined;
        const stepTimeoutInMinutes = optionalInteger(body, 'stepTimeoutInMinutes');
        const started = await jobs.startNext({ thingName, ...(statusDetails ? { statusDetails } : {}), ...(stepTimeoutInMinutes !== undefined ? { stepTimeoutInMinutes } : {}) });
        return started ? { execution: dataPlaneExecution(thingName, started, await jobs.deviceDocument(started.jobId)) } : {};
      },
    },
    {
      name: 'CancelJobExecution',
      method: 'PUT',
      path: '/things/{thingName}/jobs/{jobId}/cancel',
      async handle(request) {
        const body = bodyObject(request);
        const expectedVersion = optionalInteger(body, 'expectedVersion');
        const statusDetails = optionalObject(body, 'statusDetails');
        const problem = statusDetails === undefined ? undefined : statusDetailsProblem(statusDetails);
        if (problem) throw invalid(problem);
        await jobs.cancelExecution({
          thingName: pathName(request, 'thingName'),
          jobId: pathName(request, 'jobId'),
          force: (queryBoolean(request, 'force') ?? false),
          ...(expectedVersion !== undefined ? { expectedVersion } : {}),
          ...(statusDetails !== undefined ? { statusDetails: statusDetails as Record<string, string> } : {}),
        });
        return {};
      },
    },
    {
      name: 'DeleteJobExecution',
      method: 'DELETE',
      path: '/things/{thingName}/jobs/{jobId}/executionNumber/{executionNumber}',
      async handle(request) {
        const executionNumber = Number(request.params['executionNumber']);
        if (!Number.isSafeInteger(executionNumber) || executionNumber < 0) throw invalid(`executionNumber must be a whole number, received ${JSON.stringify(request.params['executionNumber'])}`);
        await jobs.deleteExecution({ thingName: pathName(request, 'thingName'), jobId: pathName(request, 'jobId'), executionNumber, force: (queryBoolean(request, 'force') ?? false) });
        return {};
      },
    },
    {
      name: 'CreateJobTemplate',
      method: 'PUT',
      path: '/job-templates/{jobTemplateId}',
      async handle(request) {
        const jobTemplateId = pathName(request, 'jobTemplateId');
        const body = bodyObject(request);
        refuseUnsupported(body);
        const description = optionalString(body, 'description');
        if (description === undefined || description.length > JOB_LIMITS.descriptionLength) throw invalid(`description is required, at most ${JOB_LIMITS.descriptionLength} characters`);
        // From an existing job (jobArn): its document and configs, each overridden by the request's.
        const fromArn = optionalString(body, 'jobArn');
        const fromId = fromArn === undefined ? undefined : /^arn:[^:]+:iot:[^:]*:[^:]*:job\/([a-zA-Z0-9_-]{1,64})$/.exec(fromArn)?.[1];
        if (fromArn !== undefined && fromId === undefined) throw invalid(`jobArn: ${JSON.stringify(fromArn)} is not a job ARN`);
        const job = fromId === undefined ? undefined : existingJob(fromId);
        const document = (await documentOf(body)) ?? job?.document;
        if (document === undefined) throw invalid('document, documentSource or jobArn is required');
        const problem = createJobProblem({ jobId: jobTemplateId, targets: ['-'], targetSelection: 'SNAPSHOT', document, thingGroupNames: [], configs: {} });
        if (problem) throw invalid(problem.replace('jobId', 'jobTemplateId'));
        const inherited = Object.fromEntries(Object.entries(job?.configs ?? {}).filter(([k]) => (TEMPLATE_CONFIGS as readonly string[]).includes(k)));
        await jobs.createTemplate({ jobTemplateId, description, document, configs: { ...inherited, ...readConfigs(body, TEMPLATE_CONFIGS) } });
        return { jobTemplateArn: templateArn(jobTemplateId), jobTemplateId };
      },
    },
    {
      name: 'DescribeJobTemplate',
      method: 'GET',
      path: '/job-templates/{jobTemplateId}',
      async handle(request) {
        const t = existingTemplate(pathName(request, 'jobTemplateId'));
        return { jobTemplateArn: templateArn(t.jobTemplateId), jobTemplateId: t.jobTemplateId, description: t.description, document: t.document, createdAt: epochSeconds(t.createdAt), ...t.configs };
      },
    },
    {
      name: 'ListJobTemplates',
      method: 'GET',
      path: '/job-templates',
      async handle(request) {
        return listPage(request, 'jobTemplates', jobs.templates(), (t) => t.jobTemplateId, (t) => ({ jobTemplateArn: templateArn(t.jobTemplateId), jobTemplateId: t.jobTemplateId, description: t.description, createdAt: epochSeconds(t.createdAt) }));
      },
    },
    {
      name: 'DeleteJobTemplate',
      method: 'DELETE',
      path: '/job-templates/{jobTemplateId}',
      async handle(request) {
        await jobs.deleteTemplate(pathName(request, 'jobTemplateId'));
        return {};
      },
    },
  ];
}
