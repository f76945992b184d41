/**
 * Provisioning templates and bulk registration tasks as state-store commands: pure functions
 * of the store and a validated input (the service checks template bodies with `parseTemplate`
 * before it executes one), run one at a time per key by the key's owner.
 */
import { PlatformError, type CommandDefinition, type StateView } from '../core/index.js';
import { KEYS, PROVISIONING_LIMITS, type PreProvisioningHookConfig, type ProvisioningValue, type TaskCheckpoint, type TaskRecord, type TaskStatus, type TemplateRecord, type TemplateType, type TemplateVersionRecord } from './model.js';

type Command<I, R> = CommandDefinition<ProvisioningValue, I, R>;

export const PROVISIONING_COMMANDS = {
  createTemplate: 'provisioning.template.create',
  updateTemplate: 'provisioning.template.update',
  deleteTemplate: 'provisioning.template.delete',
  createVersion: 'provisioning.template.createVersion',
  deleteVersion: 'provisioning.template.deleteVersion',
  startTask: 'provisioning.task.start',
  checkpointTask: 'provisioning.task.checkpoint',
  stopTask: 'provisioning.task.stop',
} as const;

export interface CreateTemplateInput {
  readonly templateName: string;
  readonly templateBody: string;
  readonly description?: string;
  readonly enabled: boolean;
  readonly provisioningRoleArn: string;
  readonly preProvisioningHook?: PreProvisioningHookConfig;
  readonly type: TemplateType;
}

export interface UpdateTemplateInput {
  readonly templateName: string;
  readonly description?: string;
  readonly enabled?: boolean;
  readonly defaultVersionId?: number;
  readonly provisioningRoleArn?: string;
  readonly preProvisioningHook?: PreProvisioningHookConfig;
  readonly removePreProvisioningHook?: boolean;
}

const notFound = (what: string, id: string): PlatformError => new PlatformError('REGISTRY_NOT_FOUND', `${what} ${id} does not exist`, { details: { resourceId: id } });

export function templateOf(state: StateView<ProvisioningValue>, name: string): TemplateRecord {
  const record = state.get(KEYS.template(name));
  if (!record || record.kind !== 'template') throw notFound('provisioning template', name);
  return record;
}

export function taskOf(state: StateView<ProvisioningValue>, id: string): TaskRecord {
  const record = state.get(KEYS.task(id));
  if (!record || record.kind !== 'task') throw notFound('thing registration task', id);
  return record;
}

export function versionOf(template: TemplateRecord, versionId: number): TemplateVersionRecord {
  const version = template.versions.find((v) => v.versionId === versionId);
  if (!version) throw notFound(`version of provisioning template ${template.templateName}:`, String(versionId));
  return version;
}

const createTemplate: Command<CreateTemplateInput, TemplateRecord> = {
  name: PROVISIONING_COMMANDS.createTemplate,
  keys: (input) => [KEYS.template(input.templateName)],
  run(state, input, ctx) {
    const key = KEYS.template(input.templateName);
    if (state.has(key)) throw new PlatformError('REGISTRY_ALREADY_EXISTS', `provisioning template ${input.templateName} already exists`, { details: { resourceId: input.templateName } });
    const { templateBody, ...rest } = input;
    const record: TemplateRecord = { kind: 'template', ...rest, defaultVersionId: 1, nextVersionId: 2, versions: [{ versionId: 1, templateBody, createdAt: ctx.now }], createdAt: ctx.now, updatedAt: ctx.now };
    return { result: record, writes: [{ key, value: record }] };
  },
};

const updateTemplate: Command<UpdateTemplateInput, TemplateRecord> = {
  name: PROVISIONING_COMMANDS.updateTemplate,
  keys: (input) => [KEYS.template(input.templateName)],
  run(state, input, ctx) {
    const current = templateOf(state, input.templateName);
    if (input.defaultVersionId !== undefined) versionOf(current, input.defaultVersionId);
    const { preProvisioningHook: _hook, ...base } = current;
    const hook = input.removePreProvisioningHook ? undefined : (input.preProvisioningHook ?? current.preProvisioningHook);
    const next: TemplateRecord = {
      ...base,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
      ...(input.defaultVersionId !== undefined ? { defaultVersionId: input.defaultVersionId } : {}),
      ...(input.provisioningRoleArn !== undefined ? { provisioningRoleArn: input.provisioningRoleArn } : {}),
      ...(hook ? { preProvisioningHook: hook } : {}),
      updatedAt: ctx.now,
    };
    return { result: next, writes: [{ key: KEYS.template(input.templateName), value: next }] };
  },
};

const deleteTemplate: Command<{ templateName: string }, void> = {
  name: PROVISIONING_COMMANDS.deleteTemplate,
  keys: (input) => [KEYS.template(input.templateName)],
  run(state, input) {
    templateOf(state, input.templateName);
    return { result: undefined, writes: [{ key: KEYS.template(input.templateName), value: null }] };
  },
};

const createVersion: Command<{ templateName: string; templateBody: string; setAsDefault: boolean }, { template: TemplateRecord; version: TemplateVersionRecord }> = {
  name: PROVISIONING_COMMANDS.createVersion,
  keys: (input) => [KEYS.template(input.templateName)],
  run(state, input, ctx) {
    const current = templateOf(state, input.templateName);
    if (current.versions.length >= PROVISIONING_LIMITS.versionsPerTemplate) {
      throw new PlatformError('REGISTRY_VERSIONS_LIMIT', `provisioning template ${input.templateName} already has ${PROVISIONING_LIMITS.versionsPerTemplate} versions; delete one first`);
    }
    const version: TemplateVersionRecord = { versionId: current.nextVersionId, templateBody: input.templateBody, createdAt: ctx.now };
    const next: TemplateRecord = {
      ...current,
      versions: [...current.versions, version],
      nextVersionId: current.nextVersionId + 1,
      defaultVersionId: input.setAsDefault ? version.versionId : current.defaultVersionId,
      updatedAt: ctx.now,
    };
    return { result: { template: next, version }, writes: [{ key: KEYS.template(input.templateName), value: next }] };
  },
};

const deleteVersion: Command<{ templateName: string; versionId: number }, void> = {
  name: PROVISIONING_COMMANDS.deleteVersion,
  keys: (input) => [KEYS.template(input.templateName)],
  run(state, input, ctx) {
    const current = templateOf(state, input.templateName);
    versionOf(current, input.versionId);
    // AWS IoT: the default version cannot be deleted (DeleteProvisioningTemplate does that).
    if (current.defaultVersionId === input.versionId) {
      throw new PlatformError('REGISTRY_DELETE_CONFLICT', `version ${input.versionId} is the default version of provisioning template ${input.templateName}; make another the default or delete the template`);
    }
    const next: TemplateRecord = { ...current, versions: current.versions.filter((v) => v.versionId !== input.versionId), updatedAt: ctx.now };
    return { result: undefined, writes: [{ key: KEYS.template(input.templateName), value: next }] };
  },
};

export interface StartTaskInput {
  readonly taskId: string;
  readonly templateBody: string;
  readonly inputFileBucket: string;
  readonly inputFileKey: string;
  readonly roleArn: string;
}

export const EMPTY_CHECKPOINT: TaskCheckpoint = { line: 0, byte: 0, successCount: 0, failureCount: 0, parts: { RESULTS: 0, ERRORS: 0 } };

const startTask: Command<StartTaskInput, TaskRecord> = {
  name: PROVISIONING_COMMANDS.startTask,
  keys: (input) => [KEYS.task(input.taskId)],
  run(state, input, ctx) {
    const key = KEYS.task(input.taskId);
    if (state.has(key)) throw new PlatformError('REGISTRY_ALREADY_EXISTS', `thing registration task ${input.taskId} already exists`, { details: { resourceId: input.taskId } });
    const record: TaskRecord = { kind: 'task', ...input, status: 'InProgress', checkpoint: EMPTY_CHECKPOINT, createdAt: ctx.now, updatedAt: ctx.now };
    return { result: record, writes: [{ key, value: record }] };
  },
};

export interface CheckpointInput {
  readonly taskId: string;
  readonly checkpoint: TaskCheckpoint;
  readonly inputBytes?: number;
  /** The task ends with this status (Completed, Failed, or Cancelled after Cancelling). */
  readonly status?: Extract<TaskStatus, 'Completed' | 'Failed' | 'Cancelled'>;
  readonly message?: string;
}

/**
 * Records progress. A checkpoint never moves back (a runner that lost its lease cannot undo a
 * newer one), and a task that was asked to stop keeps Cancelling until its runner says Cancelled.
 */
const checkpointTask: Command<CheckpointInput, TaskRecord> = {
  name: PROVISIONING_COMMANDS.checkpointTask,
  keys: (input) => [KEYS.task(input.taskId)],
  run(state, input, ctx) {
    const current = taskOf(state, input.taskId);
    if (current.status !== 'InProgress' && current.status !== 'Cancelling') return { result: current, writes: [] };
    if (input.checkpoint.line < current.checkpoint.line) return { result: current, writes: [] };
    let status: TaskStatus = current.status;
    if (input.status === 'Cancelled' || (input.status && current.status === 'InProgress')) status = input.status;
    if (current.status === 'Cancelling' && input.status && input.status !== 'Cancelled') status = 'Cancelled';
    const next: TaskRecord = {
      ...current,
      checkpoint: input.checkpoint,
      ...(input.inputBytes !== undefined ? { inputBytes: input.inputBytes } : {}),
      status,
      ...(input.message !== undefined ? { message: input.message } : {}),
      updatedAt: ctx.now,
    };
    return { result: next, writes: [{ key: KEYS.task(input.taskId), value: next }] };
  },
};

/** StopThingRegistrationTask: InProgress becomes Cancelling; its runner stops at its next line and says Cancelled. */
const stopTask: Command<{ taskId: string }, TaskRecord> = {
  name: PROVISIONING_COMMANDS.stopTask,
  keys: (input) => [KEYS.task(input.taskId)],
  run(state, input, ctx) {
    const current = taskOf(state, input.taskId);
    if (current.status !== 'InProgress') throw new PlatformError('REGISTRY_INVALID', `thing registration task ${input.taskId} is ${current.status}; only a task InProgress can be stopped`);
    const next: TaskRecord = { ...current, status: 'Cancelling', updatedAt: ctx.now };
    return { result: next, writes: [{ key: KEYS.task(input.taskId), value: next }] };
  },
};

export const provisioningCommands: readonly Command<any, any>[] = [createTemplate, updateTemplate, deleteTemplate, createVersion, deleteVersion, startTask, checkpointTask, stopTask];
