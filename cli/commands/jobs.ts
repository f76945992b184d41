/**
 * `kiot jobs`: AWS IoT Jobs on a running kiot, through its control plane (the same signed
 * requests `aws iot create-job` ... sends): create a job for things and thing groups by name,
 * with CreateJob's configs as flags; list jobs; describe one with a progress bar of its
 * executions' states (and `--watch` it); cancel and delete. See jobs/README.md.
 *
 * Exit codes, as the other commands (sql, topics, shadow): 2 for bad input, said as one line
 * naming the flag or argument: a flag value out of range (checked here with the jobs service's
 * own `*Problem` functions, before any call), a document that is not JSON (file:line:column),
 * a thing, group, template or job that does not exist (ResourceNotFoundException), or anything
 * else kiot refuses as InvalidRequestException. 1 for every other failure: kiot unreachable, a
 * 5xx, a refusal that depends on the job's state (InvalidStateTransitionException, ...).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { JOB_LIMITS, abortConfigProblem, createJobProblem, presignedUrlExpiry, retryConfigProblem, rolloutConfigProblem, s3Location } from '../../jobs/index.js';
import { describeJsonError } from './json-error.js';
import { apiClient, describeFailure, withApiClientOptions, type ApiClientFlags, type SignedResponse } from './signed-request.js';
import { processIo, type CliIo } from './sql.js';

type Client = Awaited<ReturnType<typeof apiClient>>;

/** Executions `describe` lists unless told otherwise: a 100,000-thing job must not print 100,000 rows. */
export const DEFAULT_DESCRIBE_EXECUTIONS = 20;
/** Seconds between DescribeJob calls of `describe --watch`. */
export const DEFAULT_WATCH_INTERVAL_S = 1;
/** Characters of the progress bar. */
const BAR_WIDTH = 20;

/** Bad input: one line naming `field` (a flag or argument), exit code 2. */
class BadInput extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/** AWS exceptions that say the request itself was wrong, not kiot's state or health. */
const BAD_INPUT_TYPES = new Set(['InvalidRequestException', 'ResourceNotFoundException']);

/** A refused call: `HTTP 404 ResourceNotFoundException: ...`, prefixed by the field it was about. */
class CallFailed extends Error {
  readonly exitCode: number;
  constructor(res: SignedResponse, field: string | undefined) {
    super(`${field ? `${field}: ` : ''}${describeFailure(res)}`);
    this.exitCode = res.errorType && BAD_INPUT_TYPES.has(res.errorType) ? 2 : 1;
  }
}

/**
 * The flag an InvalidRequestException names, by the AWS member its message starts with
 * (api/routes/jobs.ts and the jobs service's `*Problem` functions start each with the member).
 * Longest first, so that `documentSource` is not read as `document`.
 */
const FLAG_OF_MEMBER: readonly (readonly [string, string])[] = (
  [
    ['jobExecutionsRolloutConfig.maximumPerMinute', '--max-per-minute'],
    ['jobExecutionsRolloutConfig.exponentialRate.baseRatePerMinute', '--base-rate-per-minute'],
    ['jobExecutionsRolloutConfig.exponentialRate.incrementFactor', '--increment-factor'],
    ['jobExecutionsRolloutConfig.exponentialRate.rateIncreaseCriteria', '--increase-after-notified or --increase-after-succeeded'],
    ['rateIncreaseCriteria.numberOfNotifiedThings', '--increase-after-notified'],
    ['rateIncreaseCriteria.numberOfSucceededThings', '--increase-after-succeeded'],
    ['abortConfig', '--abort-when'],
    ['jobExecutionsRetryConfig', '--retry'],
    ['timeoutConfig.inProgressTimeoutInMinutes', '--timeout-minutes'],
    ['presignedUrlConfig.expiresInSec', '--presigned-url-expiry'],
    ['documentSource', '--document-source'],
    ['document', '--document'],
    ['targetSelection', '--target-selection'],
    ['jobTemplateArn', '--template'],
    ['description', '--description'],
    ['targets', '--thing or --group'],
    ['jobId', '<jobId>'],
    ['status', '--status'],
    ['reasonCode', '--reason-code'],
    ['comment', '--comment'],
  ] as const
).slice().sort((a, b) => b[0].length - a[0].length);

/**
 * A problem an AWS-shaped check found (`abortConfig.criteriaList[1].thresholdPercentage must
 * be ...`) as bad input naming the flag, and for a repeatable flag the value it came from.
 */
function problemInput(problem: string, repeated: Readonly<Record<string, readonly string[]>> = {}): BadInput {
  const listed = /^(abortConfig|jobExecutionsRetryConfig)\.criteriaList\[(\d+)\]\.?(.*)$/.exec(problem);
  if (listed) {
    const flag = listed[1] === 'abortConfig' ? '--abort-when' : '--retry';
    const value = repeated[flag]?.[Number(listed[2])];
    return new BadInput(value === undefined ? flag : `${flag} ${value}`, `${listed[3]!.trim()} (${listed[1]})`);
  }
  const found = FLAG_OF_MEMBER.find(([member]) => problem.startsWith(member));
  if (!found) return new BadInput('input', problem);
  return new BadInput(found[1], `${problem.slice(found[0].length).replace(/^[.:\s]+/, '')} (${found[0]})`);
}

/**
 * One call; a refusal throws CallFailed. `notFound` names the flag or argument a
 * ResourceNotFoundException is about; an InvalidRequestException names the flag of the member
 * its message starts with.
 */
async function call(client: Client, method: string, path: string, options: { body?: unknown; notFound?: string } = {}): Promise<Record<string, any>> {
  const res = await client.request(method, path, options.body === undefined ? undefined : JSON.stringify(options.body));
  if (res.status === 200) return res.body ? (JSON.parse(res.body) as Record<string, any>) : {};
  if (res.errorType === 'ResourceNotFoundException') throw new CallFailed(res, options.notFound);
  if (res.errorType === 'InvalidRequestException') {
    let message: unknown;
    try {
      message = (JSON.parse(res.body) as { message?: unknown }).message;
    } catch {
      // not JSON: said as it came
    }
    const bad = typeof message === 'string' ? problemInput(message) : undefined;
    if (bad && bad.field !== 'input') throw new CallFailed(res, bad.field);
  }
  throw new CallFailed(res, undefined);
}

/** Every item of a list operation (`member` of each page), following nextToken, up to `limit` items. */
async function pages(client: Client, path: string, member: string, query: Record<string, string> = {}, limit = Infinity): Promise<Record<string, any>[]> {
  const items: Record<string, any>[] = [];
  let nextToken: string | undefined;
  while (items.length < limit) {
    const maxResults = String(Math.min(250, limit - items.length));
    const page = await call(client, 'GET', `${path}?${new URLSearchParams({ maxResults, ...query, ...(nextToken ? { nextToken } : {}) })}`);
    items.push(...(page[member] as Record<string, any>[]));
    nextToken = page['nextToken'] as string | undefined;
    if (!nextToken) break;
  }
  return items.slice(0, limit);
}

/** Columns padded to their widest cell, the last one left as it is. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

const time = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : '-');
const collect = (value: string, previous: string[] = []) => [...previous, value];
const path = (...segments: string[]) => `/${segments.map(encodeURIComponent).join('/')}`;
const nameOf = (arn: unknown) => String(arn).replace(/^arn:[^:]*:iot:[^:]*:[^:]*:(thing|thinggroup)\//, '');

/** A flag's number (its range is the jobs service's to check); bad input when it is not one. */
function numberFlag(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new BadInput(flag, `expected a number, received ${JSON.stringify(text)}`);
  return value;
}

/** A whole number of at least `min`, or bad input naming the flag. */
function wholeFlag(flag: string, text: string, min: number): number {
  const value = numberFlag(flag, text)!;
  if (!Number.isInteger(value) || value < min) throw new BadInput(flag, `must be a whole number of at least ${min}, received ${JSON.stringify(text)}`);
  return value;
}

/**
 * The job document `--document` gives: JSON text as given, or the file it names. Checked here
 * so that a typo is reported with its place (file:line:column) rather than as kiot's
 * "document must be valid JSON".
 */
async function documentOf(given: string): Promise<string> {
  const inline = given.trimStart().startsWith('{');
  let text = given;
  if (!inline) {
    try {
      text = await readFile(given, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new BadInput('--document', `${given}: ${code === 'ENOENT' ? 'no such file (give JSON text starting with { or a file)' : (err as Error).message}`);
    }
  }
  const source = inline ? 'the JSON text' : given;
  // Too big to be a job document: say so before scanning it.
  if (Buffer.byteLength(text, 'utf8') > JOB_LIMITS.documentBytes) throw new BadInput('--document', `${source}: must be at most ${JOB_LIMITS.documentBytes} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BadInput('--document', `${source}:${describeJsonError(text) ?? ` not valid JSON (${(err as Error).message.split('\n')[0]})`}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadInput('--document', `${source}: expected a JSON object, found ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}`);
  return text;
}

interface CreateOptions {
  document?: string;
  documentSource?: string;
  template?: string;
  thing?: string[];
  group?: string[];
  description?: string;
  targetSelection: string;
  maxPerMinute?: string;
  baseRatePerMinute?: string;
  incrementFactor?: string;
  increaseAfterNotified?: string;
  increaseAfterSucceeded?: string;
  abortWhen?: string[];
  retry?: string[];
  timeoutMinutes?: string;
  presignedUrlExpiry?: string;
  presignedUrlRole?: string;
}

/** `FAILED:10:20` as an abort criterion; its ranges are abortConfigProblem's. */
function abortCriterion(value: string): Record<string, unknown> {
  const m = /^([A-Za-z_]+):([^:]*):([^:]*)$/.exec(value);
  const flag = `--abort-when ${value}`;
  if (!m) throw new BadInput('--abort-when', `expected <FAILED|REJECTED|TIMED_OUT|ALL>:<thresholdPercentage>:<minNumberOfExecutedThings>, received ${JSON.stringify(value)}`);
  return { failureType: m[1]!.toUpperCase(), action: 'CANCEL', thresholdPercentage: numberFlag(flag, m[2]!), minNumberOfExecutedThings: numberFlag(flag, m[3]!) };
}

/** `FAILED:3` as a retry criterion; its ranges are retryConfigProblem's. */
function retryCriterion(value: string): Record<string, unknown> {
  const m = /^([A-Za-z_]+):([^:]*)$/.exec(value);
  if (!m) throw new BadInput('--retry', `expected <FAILED|TIMED_OUT|ALL>:<numberOfRetries>, received ${JSON.stringify(value)}`);
  return { failureType: m[1]!.toUpperCase(), numberOfRetries: numberFlag(`--retry ${value}`, m[2]!) };
}

/**
 * CreateJob's configs from the flags, checked as kiot will check them (the jobs service's
 * `*Problem` functions), so that a bad number is said before anything is called.
 */
function createConfigs(options: CreateOptions): Record<string, unknown> {
  const configs: Record<string, unknown> = {};
  if (options.targetSelection !== 'SNAPSHOT' && options.targetSelection !== 'CONTINUOUS') {
    throw new BadInput('--target-selection', `must be SNAPSHOT or CONTINUOUS, received ${JSON.stringify(options.targetSelection)}`);
  }
  const rollout: Record<string, unknown> = {};
  const maximumPerMinute = numberFlag('--max-per-minute', options.maxPerMinute);
  if (maximumPerMinute !== undefined) rollout['maximumPerMinute'] = maximumPerMinute;
  const exponential = {
    '--base-rate-per-minute': options.baseRatePerMinute,
    '--increment-factor': options.incrementFactor,
    '--increase-after-notified': options.increaseAfterNotified,
    '--increase-after-succeeded': options.increaseAfterSucceeded,
  };
  if (Object.values(exponential).some((v) => v !== undefined)) {
    const given = Object.keys(exponential).filter((k) => exponential[k as keyof typeof exponential] !== undefined);
    const needs = `an exponential rate needs --base-rate-per-minute, --increment-factor and --increase-after-notified or --increase-after-succeeded (given: ${given.join(', ')})`;
    if (options.baseRatePerMinute === undefined) throw new BadInput('--base-rate-per-minute', needs);
    if (options.incrementFactor === undefined) throw new BadInput('--increment-factor', needs);
    if (options.increaseAfterNotified === undefined && options.increaseAfterSucceeded === undefined) throw new BadInput('--increase-after-notified or --increase-after-succeeded', needs);
    const notified = numberFlag('--increase-after-notified', options.increaseAfterNotified);
    const succeeded = numberFlag('--increase-after-succeeded', options.increaseAfterSucceeded);
    rollout['exponentialRate'] = {
      baseRatePerMinute: numberFlag('--base-rate-per-minute', options.baseRatePerMinute),
      incrementFactor: numberFlag('--increment-factor', options.incrementFactor),
      rateIncreaseCriteria: { ...(notified !== undefined ? { numberOfNotifiedThings: notified } : {}), ...(succeeded !== undefined ? { numberOfSucceededThings: succeeded } : {}) },
    };
  }
  if (Object.keys(rollout).length > 0) configs['jobExecutionsRolloutConfig'] = rollout;
  if (options.abortWhen?.length) configs['abortConfig'] = { criteriaList: options.abortWhen.map(abortCriterion) };
  if (options.retry?.length) configs['jobExecutionsRetryConfig'] = { criteriaList: options.retry.map(retryCriterion) };
  const minutes = numberFlag('--timeout-minutes', options.timeoutMinutes);
  if (minutes !== undefined) {
    // api/routes/jobs.ts checks this one inline: 1 minute to JOB_LIMITS.stepTimeoutMaxMinutes (7 days).
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > JOB_LIMITS.stepTimeoutMaxMinutes) {
      throw new BadInput('--timeout-minutes', `must be a whole number from 1 to ${JOB_LIMITS.stepTimeoutMaxMinutes}, received ${JSON.stringify(options.timeoutMinutes)} (timeoutConfig.inProgressTimeoutInMinutes)`);
    }
    configs['timeoutConfig'] = { inProgressTimeoutInMinutes: minutes };
  }
  if (options.presignedUrlExpiry !== undefined || options.presignedUrlRole !== undefined) {
    const expiresInSec = numberFlag('--presigned-url-expiry', options.presignedUrlExpiry);
    const presigned = { ...(options.presignedUrlRole !== undefined ? { roleArn: options.presignedUrlRole } : {}), ...(expiresInSec !== undefined ? { expiresInSec } : {}) };
    try {
      presignedUrlExpiry(presigned);
    } catch (err) {
      throw problemInput((err as Error).message);
    }
    configs['presignedUrlConfig'] = presigned;
  }
  const problem =
    (configs['jobExecutionsRolloutConfig'] !== undefined ? rolloutConfigProblem(configs['jobExecutionsRolloutConfig']) : undefined) ??
    (configs['abortConfig'] !== undefined ? abortConfigProblem(configs['abortConfig']) : undefined) ??
    (configs['jobExecutionsRetryConfig'] !== undefined ? retryConfigProblem(configs['jobExecutionsRetryConfig']) : undefined);
  if (problem) throw problemInput(problem, { '--abort-when': options.abortWhen ?? [], '--retry': options.retry ?? [] });
  return configs;
}

/** The counts of DescribeJob's jobProcessDetails, by execution status, in the order the bar names them. */
const COUNTS = [
  ['SUCCEEDED', 'numberOfSucceededThings'],
  ['FAILED', 'numberOfFailedThings'],
  ['REJECTED', 'numberOfRejectedThings'],
  ['TIMED_OUT', 'numberOfTimedOutThings'],
  ['CANCELED', 'numberOfCanceledThings'],
  ['REMOVED', 'numberOfRemovedThings'],
  ['IN_PROGRESS', 'numberOfInProgressThings'],
  ['QUEUED', 'numberOfQueuedThings'],
] as const;
const DONE = new Set(['SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT', 'CANCELED', 'REMOVED']);

/** `[██████████░░░░░░░░░░] 12/20 done  SUCCEEDED 10  FAILED 2  IN_PROGRESS 3  QUEUED 5`, done being terminal. */
export function progressBar(details: Readonly<Record<string, unknown>> = {}): string {
  const counts = COUNTS.map(([status, member]) => [status, typeof details[member] === 'number' ? (details[member] as number) : 0] as const);
  const total = counts.reduce((sum, [, n]) => sum + n, 0);
  const done = counts.reduce((sum, [status, n]) => sum + (DONE.has(status) ? n : 0), 0);
  // Floor: the bar is full only when every execution is done.
  const filled = total === 0 ? 0 : Math.floor((done / total) * BAR_WIDTH);
  const named = counts.filter(([, n]) => n > 0).map(([status, n]) => `  ${status} ${n}`);
  return `[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}] ${done}/${total} done${named.join('')}`;
}

const executionsOf = (details: Readonly<Record<string, unknown>> = {}) => COUNTS.reduce((sum, [, member]) => sum + (typeof details[member] === 'number' ? (details[member] as number) : 0), 0);

/** The job's header lines: id, status, selection, created; then the configs it was given. */
function jobLines(job: Record<string, any>): string[] {
  const lines = [`${job['jobId']}  ${job['status']}  ${job['targetSelection']}  created ${time(job['createdAt'])}`];
  if (job['description']) lines.push(`description: ${job['description']}`);
  if (job['reasonCode'] || job['comment']) lines.push(`reason: ${[job['reasonCode'], job['comment']].filter(Boolean).join(': ')}`);
  lines.push(`targets: ${(job['targets'] as unknown[] | undefined)?.map(nameOf).join(', ') ?? '-'}`);
  const rollout = job['jobExecutionsRolloutConfig'] as Record<string, any> | undefined;
  if (rollout) {
    const e = rollout['exponentialRate'] as Record<string, any> | undefined;
    const r = e?.['rateIncreaseCriteria'] as Record<string, any> | undefined;
    const after = [r?.['numberOfNotifiedThings'] !== undefined ? `${r['numberOfNotifiedThings']} notified` : '', r?.['numberOfSucceededThings'] !== undefined ? `${r['numberOfSucceededThings']} succeeded` : ''].filter(Boolean).join(' or ');
    const parts = [
      ...(e ? [`from ${e['baseRatePerMinute']} a minute, x${e['incrementFactor']} after each ${after}`] : []),
      ...(rollout['maximumPerMinute'] !== undefined ? [`at most ${rollout['maximumPerMinute']} a minute`] : []),
    ];
    lines.push(`rollout: ${parts.join(', ')}`);
  }
  const abort = (job['abortConfig'] as { criteriaList?: Record<string, any>[] } | undefined)?.criteriaList;
  if (abort?.length) lines.push(`abort: ${abort.map((c) => `${c['action']} when ${c['failureType']} >= ${c['thresholdPercentage']}% of at least ${c['minNumberOfExecutedThings']} things`).join('; ')}`);
  const retry = (job['jobExecutionsRetryConfig'] as { criteriaList?: Record<string, any>[] } | undefined)?.criteriaList;
  if (retry?.length) lines.push(`retry: ${retry.map((c) => `${c['failureType']} up to ${c['numberOfRetries']} times`).join('; ')}`);
  const timeout = (job['timeoutConfig'] as Record<string, any> | undefined)?.['inProgressTimeoutInMinutes'];
  if (timeout !== undefined) lines.push(`timeout: ${timeout} minutes IN_PROGRESS`);
  if (job['jobTemplateArn']) lines.push(`template: ${job['jobTemplateArn']}`);
  const processing = job['jobProcessDetails']?.['processingTargets'] as unknown[] | undefined;
  if (processing?.length) lines.push(`rolling out to: ${processing.map(nameOf).join(', ')}`);
  return lines;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Options of an action and the shape `run` hands its body. */
type Body<O> = (client: Client, options: O & ApiClientFlags, jobId: string) => Promise<string | undefined>;

export function register(program: Command, io: CliIo = processIo): void {
  const jobs = program.command('jobs').description('work with AWS IoT Jobs on a running kiot');
  /**
   * An action (commander passes the arguments, the options, then the command) that checks its
   * options with `check`, then runs `body` with a client; what body returns is printed. A
   * failure is one line on stderr: exit code 2 for bad input, 1 for the rest (module comment).
   */
  const run =
    <O>(name: string, body: Body<O>, check: (options: O, jobId: string) => void | Promise<void> = () => undefined) =>
    async (...args: unknown[]) => {
      const options = args[args.length - 2] as O & ApiClientFlags;
      const jobId = args[0] as string;
      let endpoint: string | undefined;
      try {
        await check(options, jobId);
        const client = await apiClient(options);
        endpoint = client.endpoint;
        const out = await body(client, options, jobId);
        if (out !== undefined) io.stdout.write(`${out}\n`);
      } catch (err) {
        const failed = err instanceof BadInput ? 2 : err instanceof CallFailed ? err.exitCode : 1;
        // A network error has a code and, for AggregateError (both localhost addresses refused), no message.
        const e = err as Error & { code?: string; cause?: { message?: string } };
        const text = err instanceof BadInput || err instanceof CallFailed ? e.message : `${endpoint ? `cannot reach ${endpoint}: ` : ''}${e.message || e.code || e.cause?.message || String(err)}`;
        io.stderr.write(`kiot jobs ${name}: ${text.split('\n')[0]}\n`);
        io.setExitCode(failed);
      }
    };

  withApiClientOptions(
    jobs
      .command('create')
      .description('create a job (CreateJob) for things and thing groups, nested groups included')
      .argument('<jobId>', 'job id ([a-zA-Z0-9_-]{1,64})')
      .option('--document <json|file>', 'the job document: JSON text, or a file holding it (one of --document, --document-source, --template is required)')
      .option('--document-source <url>', 'the job document from S3 instead: s3://<bucket>/<key> or an https S3 URL, read by kiot from its --s3-endpoint')
      .option('--template <id|arn>', "a job template (jobTemplateArn): its document and configs, each overridden by these flags (default: none)")
      .option('--thing <name>', 'a target thing (repeatable; at least one --thing or --group)', collect)
      .option('--group <name>', 'a target thing group, nested groups included (repeatable)', collect)
      .option('--description <text>', 'description (default: none)')
      .option('--target-selection <selection>', "SNAPSHOT (the targets' things now) or CONTINUOUS (also things that join the groups later)", 'SNAPSHOT')
      .option('--max-per-minute <n>', 'rollout: notify at most n things a minute, 1 to 1000 (jobExecutionsRolloutConfig.maximumPerMinute; default: no rate, all at once)')
      .option('--base-rate-per-minute <n>', 'exponential rollout: start at n things a minute, 1 to 1000 (exponentialRate.baseRatePerMinute; default: none)')
      .option('--increment-factor <x>', 'exponential rollout: multiply the rate by x, 1.1 to 5 with one decimal (exponentialRate.incrementFactor)')
      .option('--increase-after-notified <n>', 'exponential rollout: raise the rate after each n things notified (rateIncreaseCriteria.numberOfNotifiedThings)')
      .option('--increase-after-succeeded <n>', 'exponential rollout: raise the rate after each n things succeeded (rateIncreaseCriteria.numberOfSucceededThings)')
      .option('--abort-when <type:percent:min>', 'cancel the job when <FAILED|REJECTED|TIMED_OUT|ALL> reach percent (0 < p <= 100) of at least min executed things, e.g. FAILED:10:20 (abortConfig, action CANCEL; repeatable; default: never)', collect)
      .option('--retry <type:n>', 'retry an execution that ends <FAILED|TIMED_OUT|ALL> up to n times, 0 to 10, e.g. FAILED:3 (jobExecutionsRetryConfig; repeatable, at most 2; default: no retries)', collect)
      .option('--timeout-minutes <n>', 'an IN_PROGRESS execution times out after n minutes, 1 to 10080 (timeoutConfig.inProgressTimeoutInMinutes; default: never)')
      .option('--presigned-url-expiry <seconds>', 'presigned S3 URLs in the document last this long, 60 to 3600 (presignedUrlConfig.expiresInSec; default: 3600)')
      .option('--presigned-url-role <arn>', 'presignedUrlConfig.roleArn (kept; kiot signs with its own credentials)'),
  ).action(
    run<CreateOptions>('create', async (client, options, jobId) => {
      // Everything that can be checked without kiot is, before the first call.
      if ((options.thing ?? []).length + (options.group ?? []).length === 0) throw new BadInput('--thing or --group', 'name at least one target');
      if (options.document !== undefined && options.documentSource !== undefined) throw new BadInput('--document', 'give --document or --document-source, not both');
      if (options.document === undefined && options.documentSource === undefined && options.template === undefined) throw new BadInput('--document', 'required (or --document-source, or --template)');
      if (options.documentSource !== undefined && !s3Location(options.documentSource)) {
        throw new BadInput('--document-source', `expected an S3 URL (s3://<bucket>/<key>, https://<bucket>.s3.amazonaws.com/<key>, https://s3.amazonaws.com/<bucket>/<key>), received ${JSON.stringify(options.documentSource)}`);
      }
      const configs = createConfigs(options);
      const document = options.document === undefined ? undefined : await documentOf(options.document);
      const problem = createJobProblem({ jobId, targets: ['-'], targetSelection: 'SNAPSHOT', document: document ?? '{}', thingGroupNames: [], configs: {}, ...(options.description !== undefined ? { description: options.description } : {}) });
      if (problem) throw problemInput(problem);

      // The targets' ARNs as the registry has them (which also says when one does not exist).
      const things = await Promise.all((options.thing ?? []).map(async (t) => (await call(client, 'GET', path('things', t), { notFound: `--thing ${t}` }))['thingArn'] as string));
      const groups = await Promise.all((options.group ?? []).map(async (g) => (await call(client, 'GET', path('thing-groups', g), { notFound: `--group ${g}` }))['thingGroupArn'] as string));
      const template = options.template;
      const templateArn = template === undefined || template.startsWith('arn:') ? template : ((await call(client, 'GET', path('job-templates', template), { notFound: `--template ${template}` }))['jobTemplateArn'] as string);
      const body = {
        targets: [...things, ...groups],
        targetSelection: options.targetSelection,
        ...(document !== undefined ? { document } : {}),
        ...(options.documentSource !== undefined ? { documentSource: options.documentSource } : {}),
        ...(templateArn !== undefined ? { jobTemplateArn: templateArn } : {}),
        ...(options.description !== undefined ? { description: options.description } : {}),
        ...configs,
      };
      const created = await call(client, 'PUT', path('jobs', jobId), { body });
      return `created ${created['jobArn']}`;
    }),
  );

  withApiClientOptions(
    jobs
      .command('list')
      .description('list jobs (ListJobs)')
      .option('--status <status>', 'only jobs that are IN_PROGRESS, CANCELED, COMPLETED or DELETION_IN_PROGRESS (default: all)')
      .option('--json', 'print the jobs as JSON'),
  ).action(
    run<{ status?: string; json?: boolean }>('list', async (client, options) => {
      const listed = await pages(client, '/jobs', 'jobs', options.status ? { status: options.status } : {});
      if (options.json) return JSON.stringify(listed, null, 2);
      return table(['JOB', 'STATUS', 'SELECTION', 'CREATED'], listed.map((j) => [j['jobId'], j['status'], j['targetSelection'], time(j['createdAt'])]));
    }),
  );

  interface DescribeOptions {
    json?: boolean;
    executions: string;
    watch?: boolean;
    interval: string;
  }
  const describeJob = async (client: Client, jobId: string) => ((await call(client, 'GET', path('jobs', jobId), { notFound: '<jobId>' })) as { job: Record<string, any> }).job;

  /** Redraws the bar until the job is no longer IN_PROGRESS or `signal` aborts (SIGINT); returns the last line. */
  const watch = async (client: Client, jobId: string, options: DescribeOptions, signal: AbortSignal): Promise<string | undefined> => {
    const intervalMs = Number(options.interval) * 1000;
    const tty = (io.stdout as { isTTY?: boolean }).isTTY === true;
    let job = await describeJob(client, jobId);
    if (!options.json) io.stdout.write(`${jobLines(job).join('\n')}\n`);
    let last: string | undefined;
    for (;;) {
      const line = options.json ? JSON.stringify({ jobId, status: job['status'], jobProcessDetails: job['jobProcessDetails'] }) : progressBar(job['jobProcessDetails']);
      // On a terminal the line is redrawn in place; elsewhere (a pipe, a log) one line per change.
      if (line !== last) io.stdout.write(tty && !options.json ? `\r\x1b[K${line}` : `${line}\n`);
      last = line;
      if (job['status'] !== 'IN_PROGRESS' || signal.aborted) break;
      await sleep(intervalMs, signal);
      if (signal.aborted) break;
      job = await describeJob(client, jobId);
    }
    if (tty && !options.json) io.stdout.write('\n');
    if (options.json) return undefined;
    return job['status'] === 'IN_PROGRESS' ? `stopped watching ${jobId} (still IN_PROGRESS)` : `${jobId} ${job['status']}`;
  };

  withApiClientOptions(
    jobs
      .command('describe')
      .description('a job (DescribeJob) with a progress bar of its executions\' states, and its first executions (ListJobExecutionsForJob)')
      .argument('<jobId>', 'job id')
      .option('--executions <n>', 'list at most n executions (0: none)', String(DEFAULT_DESCRIBE_EXECUTIONS))
      .option('--watch', 'redraw the progress bar until the job is no longer IN_PROGRESS (Ctrl-C stops)')
      .option('--interval <seconds>', 'seconds between looks with --watch, 0.1 to 3600', String(DEFAULT_WATCH_INTERVAL_S))
      .option('--json', 'print the job and its executions as JSON (with --watch: a JSON line of its status and counts per change)'),
  ).action(
    run<DescribeOptions>(
      'describe',
      async (client, options, jobId) => {
        if (options.watch) {
          const stop = new AbortController();
          const onSigint = () => stop.abort();
          process.once('SIGINT', onSigint);
          try {
            return await watch(client, jobId, options, stop.signal);
          } finally {
            process.off('SIGINT', onSigint);
          }
        }
        const limit = Number(options.executions);
        const job = await describeJob(client, jobId);
        const executions = limit === 0 ? [] : await pages(client, path('jobs', jobId, 'things'), 'executionSummaries', {}, limit);
        if (options.json) return JSON.stringify({ job, executions }, null, 2);
        const rows = executions.map((e) => [nameOf(e['thingArn']), e['jobExecutionSummary']['status'], String(e['jobExecutionSummary']['executionNumber']), time(e['jobExecutionSummary']['lastUpdatedAt'])]);
        const more = executionsOf(job['jobProcessDetails']) - executions.length;
        return [
          ...jobLines(job),
          progressBar(job['jobProcessDetails']),
          ...(rows.length > 0 ? [table(['THING', 'STATUS', 'NUMBER', 'UPDATED'], rows)] : []),
          ...(more > 0 ? [`... ${more} more execution${more === 1 ? '' : 's'} (--executions <n> lists more)`] : []),
        ].join('\n');
      },
      (options) => {
        wholeFlag('--executions', options.executions, 0);
        const interval = numberFlag('--interval', options.interval)!;
        if (interval < 0.1 || interval > 3600) throw new BadInput('--interval', `must be from 0.1 to 3600 seconds, received ${JSON.stringify(options.interval)}`);
      },
    ),
  );

  withApiClientOptions(
    jobs
      .command('cancel')
      .description('cancel a job (CancelJob): its QUEUED executions, and IN_PROGRESS ones with --force')
      .argument('<jobId>', 'job id')
      .option('--force', 'cancel IN_PROGRESS executions too, or a job canceled before (default: QUEUED only)')
      .option('--reason-code <code>', 'reason code, at most 128 letters, digits, spaces or _.,/=+@- (default: none)')
      .option('--comment <text>', `comment, at most ${JOB_LIMITS.commentLength} characters (default: none)`),
  ).action(
    run<{ force?: boolean; reasonCode?: string; comment?: string }>(
      'cancel',
      async (client, options, jobId) => {
        const body = { ...(options.reasonCode !== undefined ? { reasonCode: options.reasonCode } : {}), ...(options.comment !== undefined ? { comment: options.comment } : {}) };
        await call(client, 'PUT', `${path('jobs', jobId, 'cancel')}${options.force ? '?force=true' : ''}`, { body, notFound: '<jobId>' });
        return `canceled ${jobId}${options.force ? ' (IN_PROGRESS executions too)' : ''}`;
      },
      (options) => {
        if (options.reasonCode !== undefined && !JOB_LIMITS.reasonCode.test(options.reasonCode)) throw new BadInput('--reason-code', `must be at most 128 letters, digits, spaces or _.,/=+@-, received ${JSON.stringify(options.reasonCode)}`);
        if (options.comment !== undefined && options.comment.length > JOB_LIMITS.commentLength) throw new BadInput('--comment', `must be at most ${JOB_LIMITS.commentLength} characters, received ${options.comment.length}`);
      },
    ),
  );

  withApiClientOptions(
    jobs
      .command('delete')
      .description('delete a job and its executions (DeleteJob); an IN_PROGRESS job needs --force')
      .argument('<jobId>', 'job id')
      .option('--force', 'delete a job that is still IN_PROGRESS (default: refuse)'),
  ).action(
    run<{ force?: boolean }>('delete', async (client, options, jobId) => {
      await call(client, 'DELETE', `${path('jobs', jobId)}${options.force ? '?force=true' : ''}`, { notFound: '<jobId>' });
      return `deleted ${jobId}`;
    }),
  );
}
