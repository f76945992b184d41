/**
 * The provisioning service: provisioning templates (with versions) and bulk registration tasks
 * on the compacted `iot.provisioning` topic (core/state), and the one way to provision a device
 * from a template, `provision` (apply.ts: all or nothing, with the pre-provisioning hook seam),
 * which RegisterThing, tasks, and fleet provisioning / JITP call. Resources go to the registry
 * through its commands; this service stores only templates and tasks. See provisioning/README.md.
 */
import { randomUUID } from 'node:crypto';
import { PlatformError, StateStore, TOPICS, createEnvelope, createRequestConsumer, envelopeRecord, topicSpec, type Envelope, type EnvelopeConsumer, type Log, type Logger } from '../core/index.js';
import { FORGET_ONCE_COMMAND, REGISTRY_BATCH_COMMAND, paginate, type BatchGroup, type BatchInput, type BatchResult, type Page, type PageRequest, type RegistryStore } from '../registry/index.js';
import { applyMany, applyTemplate, type ApplyOptions, type ProvisioningTargets, type ProvisionResult } from './apply.js';
import { PROVISIONING_COMMANDS, provisioningCommands, taskOf, templateOf, versionOf, type CheckpointInput, type CreateTemplateInput, type StartTaskInput, type UpdateTemplateInput } from './commands.js';
import { KEYS, PROVISIONING_LIMITS, provisioningCodec, templateArn, type ProvisioningValue, type TaskRecord, type TaskStatus, type TemplateRecord, type TemplateVersionRecord } from './model.js';
import { reportKey, runTask, type ObjectStore, type ReportType } from './tasks.js';
import { createFleetProvisioning, parseFleetTopic, type InvokeHookFunction } from './fleet.js';
import type { OwnershipTokens } from './ownership-token.js';

/** The consumer group that answers fleet provisioning requests (one answer per request, whichever process runs it). */
export const PROVISIONING_GROUP = 'kiot-provisioning';

/** How long a CreateProvisioningClaim certificate is valid (AWS: claim certificates expire after five minutes). */
export const CLAIM_CERTIFICATE_TTL_MS = 5 * 60_000;

/**
 * The policy a CreateProvisioningClaim certificate gets: only its template's fleet provisioning
 * topics (the claim policy of the developer guide, "Provisioning by trusted user").
 */
export function claimPolicyDocument(arnPrefix: string, templateName: string): string {
  const topics = [`${arnPrefix}topic/$aws/certificates/create/*`, `${arnPrefix}topic/$aws/certificates/create-from-csr/*`, `${arnPrefix}topic/$aws/provisioning-templates/${templateName}/provision/*`];
  const filters = topics.map((t) => t.replace(':topic/', ':topicfilter/'));
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: '*' },
      { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: topics },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: filters },
    ],
  });
}
import { parseTemplate, type Template } from './template.js';

/** The part of kiot's Config provisioning reads: region and account for template ARNs. */
export interface ProvisioningConfig {
  readonly region: string;
  readonly accountId: string;
}

export interface ProvisioningServiceDeps extends ProvisioningTargets {
  readonly log: Log;
  readonly logger: Logger;
  /** Task inputs and reports (S3). Without it, StartThingRegistrationTask is refused. */
  readonly objects?: ObjectStore;
  /**
   * Fleet provisioning by claim over MQTT (fleet.ts): the ownership tokens' signer and the
   * Lambda Invoke client for pre-provisioning hooks. Without it the MQTT API is not served.
   */
  readonly fleet?: { readonly tokens: OwnershipTokens; readonly invokeHook?: InvokeHookFunction; readonly hookTimeoutMs?: number };
  /** Lines per task checkpoint, and per registry command (tasks.ts defaults). */
  readonly taskBatchLines?: number;
  readonly taskLinesPerWrite?: number;
}

export interface Provisioning {
  createTemplate(input: CreateTemplateInput): Promise<TemplateRecord>;
  template(name: string): TemplateRecord;
  templates(page: PageRequest): Page<TemplateRecord>;
  updateTemplate(input: UpdateTemplateInput): Promise<TemplateRecord>;
  deleteTemplate(name: string): Promise<void>;
  createTemplateVersion(name: string, templateBody: unknown, setAsDefault: boolean): Promise<{ template: TemplateRecord; version: TemplateVersionRecord }>;
  templateVersion(name: string, versionId: number): { template: TemplateRecord; version: TemplateVersionRecord };
  deleteTemplateVersion(name: string, versionId: number): Promise<void>;
  templateArn(name: string): string;
  /**
   * Provisions one device from a template body, all or nothing (RegisterThing, task lines,
   * fleet provisioning and JITP all come here).
   */
  provision(templateBody: string | Template, parameters: Readonly<Record<string, unknown>>, options?: ApplyOptions): Promise<ProvisionResult>;
  /** Many devices in one registry command, each all or nothing: a result or the PlatformError of each. */
  provisionMany(templateBody: string | Template, devices: readonly { parameters: Readonly<Record<string, unknown>>; options?: ApplyOptions }[]): Promise<(ProvisionResult | PlatformError)[]>;
  /** Forgets the `once` marks of a finished bulk run (`kiot provision bulk`). */
  forgetRun(id: string): Promise<void>;
  startTask(input: Omit<StartTaskInput, 'taskId'>): Promise<TaskRecord>;
  task(taskId: string): TaskRecord;
  tasks(filter: { status?: TaskStatus }, page: PageRequest): Page<TaskRecord>;
  stopTask(taskId: string): Promise<TaskRecord>;
  /** Links to a task's report objects of one type, in order. */
  taskReports(taskId: string, type: ReportType): string[];
  /**
   * CreateProvisioningClaim: a certificate and keys valid for five minutes whose policy allows
   * only the template's fleet provisioning topics.
   * @throws REGISTRY_NOT_FOUND (no such template), REGISTRY_INVALID (not FLEET_PROVISIONING, or disabled)
   */
  createProvisioningClaim(templateName: string): Promise<{ certificateId: string; certificatePem: string; keyPair: { PublicKey: string; PrivateKey: string }; expiration: number }>;
  /** Resolves once the tasks this process runs now have ended (tests, CLI). */
  idle(): Promise<void>;
}

export interface ProvisioningService {
  /** Opens the store (joining its owner group), then resumes unfinished tasks in the background. */
  start(): Promise<Provisioning>;
  /** Stops running tasks at their next line (they resume on the next start) and closes the store. Safe twice. */
  stop(): Promise<void>;
}

const invalid = (message: string): PlatformError => new PlatformError('REGISTRY_INVALID', message);

/** At most this many devices' groups go into one coalesced registry.batch. */
const MAX_COALESCED_GROUPS = 64;

/**
 * The registry store, with every `registry.batch` that arrives while one is being written
 * coalesced into the next one: each group stays all or nothing and gets its own result, and many
 * devices provisioning at once cost one registry command (one append and read-back on the
 * registry's single partition) instead of one each. Other commands go through as they are.
 * A group is prepared against the registry as it was before the batch (registry/batch.ts), so two
 * devices of one batch that ask for the same new thing name: the second is refused, not merged.
 */
export function coalescingRegistry(registry: RegistryStore): RegistryStore {
  let queue: { groups: readonly BatchGroup[]; resolve: (r: BatchResult) => void; reject: (err: unknown) => void }[] = [];
  let writing = false;
  const drain = async () => {
    writing = true;
    while (queue.length > 0) {
      const taken: typeof queue = [];
      let size = 0;
      while (queue.length > 0 && (taken.length === 0 || size + queue[0]!.groups.length <= MAX_COALESCED_GROUPS)) {
        size += queue[0]!.groups.length;
        taken.push(queue.shift()!);
      }
      try {
        const out = await registry.execute<BatchResult>(REGISTRY_BATCH_COMMAND, { groups: taken.flatMap((t) => t.groups) });
        let at = 0;
        for (const t of taken) {
          t.resolve({ groups: out.groups.slice(at, at + t.groups.length) });
          at += t.groups.length;
        }
      } catch (err) {
        for (const t of taken) t.reject(err);
      }
    }
    writing = false;
  };
  const execute = <R>(name: string, input: unknown): Promise<R> => {
    if (name !== REGISTRY_BATCH_COMMAND) return registry.execute<R>(name, input);
    return new Promise<BatchResult>((resolve, reject) => {
      queue.push({ groups: (input as BatchInput).groups, resolve, reject });
      if (!writing) void drain();
    }) as Promise<R>;
  };
  return new Proxy(registry, {
    get(target, property) {
      if (property === 'execute') return execute;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export function validTemplateName(name: unknown): string {
  if (typeof name !== 'string' || !PROVISIONING_LIMITS.templateName.test(name)) throw invalid(`templateName: expected 1-36 characters of [0-9A-Za-z_-], received ${JSON.stringify(name)}`);
  return name;
}

export function createProvisioningService(config: ProvisioningConfig, deps: ProvisioningServiceDeps): ProvisioningService {
  const logger = deps.logger.child({ module: 'provisioning' });
  let store: StateStore<ProvisioningValue> | undefined;
  let starting: Promise<Provisioning> | undefined;
  let stopping: Promise<void> | undefined;
  const running = new Map<string, Promise<unknown>>();
  const parsed = new Map<string, Template>();
  let stopped = false;
  let consumer: EnvelopeConsumer | undefined;
  const answering = new Set<Promise<void>>();

  /** Templates parse once per body text. */
  const templateFrom = (body: string | Template): Template => {
    if (typeof body !== 'string') return body;
    let t = parsed.get(body);
    if (!t) {
      t = parseTemplate(body);
      if (parsed.size > 256) parsed.clear();
      parsed.set(body, t);
    }
    return t;
  };

  const launch = (s: StateStore<ProvisioningValue>, task: TaskRecord): void => {
    if (running.has(task.taskId) || stopped || !deps.objects) return;
    const template = templateFrom(task.templateBody);
    const run = runTask(task, {
      objects: deps.objects,
      logger,
      ...(deps.taskBatchLines !== undefined ? { batchLines: deps.taskBatchLines } : {}),
      ...(deps.taskLinesPerWrite !== undefined ? { linesPerWrite: deps.taskLinesPerWrite } : {}),
      apply: (lines, keepFrom) => applyMany(deps, template, lines.map(({ parameters, line }) => ({ parameters, options: { once: { id: `task-${task.taskId}`, seq: line, keepFrom } } }))),
      shouldStop: () => stopped,
      checkpoint: (input) => s.execute<CheckpointInput, TaskRecord>(PROVISIONING_COMMANDS.checkpointTask, { taskId: task.taskId, ...input }),
    })
      .then(async (end) => {
        if (end && end.status !== 'InProgress' && end.status !== 'Cancelling') await deps.registry.execute(FORGET_ONCE_COMMAND, { id: `task-${task.taskId}` });
      })
      .catch((err: unknown) => {
        if (!stopped) logger.error({ err, taskId: task.taskId }, 'a thing registration task stopped before its end; it resumes on the next start');
      })
      .finally(() => running.delete(task.taskId));
    running.set(task.taskId, run);
  };

  const api = (s: StateStore<ProvisioningValue>): Provisioning => ({
    async createTemplate(input) {
      validTemplateName(input.templateName);
      templateFrom(input.templateBody);
      return s.execute(PROVISIONING_COMMANDS.createTemplate, input);
    },
    template: (name) => templateOf(s, validTemplateName(name)),
    templates(page) {
      const all: TemplateRecord[] = [];
      for (const [key, value] of s.entries()) if (key.startsWith('template/') && value.kind === 'template') all.push(value);
      return paginate(all, (t) => t.templateName, page);
    },
    updateTemplate: (input) => s.execute(PROVISIONING_COMMANDS.updateTemplate, { ...input, templateName: validTemplateName(input.templateName) }),
    deleteTemplate: (name) => s.execute(PROVISIONING_COMMANDS.deleteTemplate, { templateName: validTemplateName(name) }),
    async createTemplateVersion(name, templateBody, setAsDefault) {
      validTemplateName(name);
      templateFrom(templateBody as string);
      return s.execute(PROVISIONING_COMMANDS.createVersion, { templateName: name, templateBody, setAsDefault });
    },
    templateVersion(name, versionId) {
      const template = templateOf(s, validTemplateName(name));
      return { template, version: versionOf(template, versionId) };
    },
    deleteTemplateVersion: (name, versionId) => s.execute(PROVISIONING_COMMANDS.deleteVersion, { templateName: validTemplateName(name), versionId }),
    templateArn: (name) => templateArn(config.region, config.accountId, name),
    provision: (body, parameters, options = {}) => applyTemplate(deps, templateFrom(body), parameters, options),
    provisionMany: (body, devices) => applyMany(deps, templateFrom(body), devices),
    forgetRun: (id) => deps.registry.execute(FORGET_ONCE_COMMAND, { id }),
    async startTask(input) {
      if (!deps.objects) throw invalid('StartThingRegistrationTask needs an S3 endpoint for its input and reports (set --s3-endpoint or the AWS SDK\'s own settings)');
      templateFrom(input.templateBody);
      const task = await s.execute<StartTaskInput, TaskRecord>(PROVISIONING_COMMANDS.startTask, { ...input, taskId: randomUUID() });
      launch(s, task);
      return task;
    },
    task: (taskId) => taskOf(s, taskId),
    tasks(filter, page) {
      const all: TaskRecord[] = [];
      for (const [key, value] of s.entries()) if (key.startsWith('task/') && value.kind === 'task' && (filter.status === undefined || value.status === filter.status)) all.push(value);
      // Newest first, as AWS lists them; the sort key makes page tokens stable.
      return paginate(all, (t) => `${String(Number.MAX_SAFE_INTEGER - t.createdAt).padStart(16, '0')}:${t.taskId}`, page);
    },
    stopTask: (taskId) => s.execute(PROVISIONING_COMMANDS.stopTask, { taskId }),
    taskReports(taskId, type) {
      const task = taskOf(s, taskId);
      return Array.from({ length: task.checkpoint.parts[type] }, (_, i) => deps.objects!.link(task.inputFileBucket, reportKey(taskId, type, i)));
    },
    async createProvisioningClaim(templateName) {
      const template = templateOf(s, validTemplateName(templateName));
      if (template.type !== 'FLEET_PROVISIONING') throw invalid(`provisioning template ${templateName} is ${template.type}, not FLEET_PROVISIONING`);
      if (!template.enabled) throw invalid(`provisioning template ${templateName} is not enabled`);
      const expiration = Date.now() + CLAIM_CERTIFICATE_TTL_MS;
      const made = await deps.certificates.createKeysAndCertificate({ setAsActive: true, notAfter: new Date(expiration) });
      const document = claimPolicyDocument(`arn:aws:iot:${config.region}:${config.accountId}:`, templateName);
      const name = `kiot-provisioning-claim-${templateName}`;
      const existing = deps.policies.findPolicyDocument(name);
      if (existing === undefined) await deps.policies.createPolicy(name, document).catch((err: unknown) => { if (!(err instanceof PlatformError && err.code === 'REGISTRY_ALREADY_EXISTS')) throw err; });
      await deps.policies.attachPolicy(name, made.certificateArn);
      return { certificateId: made.certificateId, certificatePem: made.certificatePem, keyPair: made.keyPair, expiration: Math.floor(expiration / 1000) };
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running.values()]);
    },
  });

  /**
   * Answers the fleet provisioning MQTT API from `iot.ingress` (group `kiot-provisioning`).
   * Replies go to `iot.egress`, not `iot.ingress`: they carry private keys, which rules must
   * not see; the gateway delivers them to the requesting client id only.
   */
  const startFleet = async (provisioning: Provisioning, fleetDeps: NonNullable<ProvisioningServiceDeps['fleet']>) => {
    const registry = coalescingRegistry(deps.registry);
    const targets = { registry, certificates: deps.certificates, policies: deps.policies };
    const fleet = createFleetProvisioning({
      certificates: deps.certificates,
      registry,
      tokens: fleetDeps.tokens,
      ...(fleetDeps.invokeHook ? { invokeHook: fleetDeps.invokeHook } : {}),
      ...(fleetDeps.hookTimeoutMs !== undefined ? { hookTimeoutMs: fleetDeps.hookTimeoutMs } : {}),
      template: (name) => provisioning.template(name),
      templateArn: (name) => provisioning.templateArn(name),
      provision: (body, parameters, options) => applyTemplate(targets, templateFrom(body), parameters, options),
      logger,
    });
    const onRequest = (envelope: Envelope): Promise<void> | undefined => {
      const request = parseFleetTopic(envelope.topic);
      // A request with no client id (HTTP publish) has no connection to answer.
      if (!request || envelope.clientId === undefined || stopped) return undefined;
      const clientId = envelope.clientId;
      const mine = fleet
        .answer(request, envelope.payload, { clientId, principal: envelope.principal })
        .then(async (answer) => {
          const reply = createEnvelope({ topic: answer.topic, payload: answer.payload, qos: 1, clientId });
          await deps.log.append(TOPICS.egress, [envelopeRecord(reply)]);
        })
        .catch((err: unknown) => logger.error({ err, topic: envelope.topic }, 'fleet provisioning reply not sent'));
      answering.add(mine);
      void mine.finally(() => answering.delete(mine));
      // Not awaited: a certificate takes tens of milliseconds to make, and requests need not wait for each other.
      return undefined;
    };
    await deps.log.ensureTopic(topicSpec(TOPICS.egress));
    consumer = createRequestConsumer({ log: deps.log, logger, groupId: PROVISIONING_GROUP, accepts: (topic) => parseFleetTopic(topic) !== undefined, deliver: onRequest });
    await consumer.start();
  };

  return {
    start() {
      starting ??= (async () => {
        store = await StateStore.open<ProvisioningValue>({ log: deps.log, logger, topic: topicSpec(TOPICS.provisioning), codec: provisioningCodec, commands: provisioningCommands });
        const s = store;
        for (const [, value] of s.entries()) if (value.kind === 'task' && (value.status === 'InProgress' || value.status === 'Cancelling')) launch(s, value);
        const provisioning = api(s);
        if (deps.fleet) await startFleet(provisioning, deps.fleet);
        return provisioning;
      })();
      return starting;
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        await starting?.catch(() => undefined);
        await consumer?.stop();
        await Promise.allSettled([...answering]);
        await Promise.allSettled([...running.values()]);
        await store?.close();
      })();
      return stopping;
    },
  };
}

export { KEYS as PROVISIONING_KEYS };
