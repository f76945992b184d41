/**
 * The provisioning records on the compacted `iot.provisioning` topic, their keys and limits.
 *
 * Record layout (values are JSON in a state frame, checked with the schema of the key prefix):
 *   template/<templateName>  TemplateRecord: the template with every version (at most 5)
 *   task/<taskId>            TaskRecord: a bulk registration task, with its progress checkpoint
 *   schema version 1  the records as they are now
 */
import { z } from 'zod';
import { jsonCodec, type StateCodec } from '../core/index.js';

/** AWS IoT limits (API reference, CreateProvisioningTemplate and CreateProvisioningTemplateVersion). */
export const PROVISIONING_LIMITS = {
  templateName: /^[0-9A-Za-z_-]{1,36}$/,
  descriptionLength: 500,
  /** A template has at most 5 versions (VersionsLimitExceededException beyond). */
  versionsPerTemplate: 5,
  taskId: /^[a-zA-Z0-9-]{1,40}$/,
} as const;

export const TEMPLATE_TYPES = ['FLEET_PROVISIONING', 'JITP'] as const;
export type TemplateType = (typeof TEMPLATE_TYPES)[number];

export interface TemplateVersionRecord {
  readonly versionId: number;
  readonly templateBody: string;
  readonly createdAt: number;
}

export interface PreProvisioningHookConfig {
  readonly targetArn: string;
  readonly payloadVersion: string;
}

export interface TemplateRecord {
  readonly kind: 'template';
  readonly templateName: string;
  readonly description?: string;
  readonly enabled: boolean;
  readonly provisioningRoleArn: string;
  readonly preProvisioningHook?: PreProvisioningHookConfig;
  readonly type: TemplateType;
  readonly defaultVersionId: number;
  readonly nextVersionId: number;
  readonly versions: readonly TemplateVersionRecord[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** AWS's task statuses (DescribeThingRegistrationTask). */
export const TASK_STATUSES = ['InProgress', 'Completed', 'Failed', 'Cancelled', 'Cancelling'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/**
 * Where a task is in its input, durable: every line before `line` is applied and its report
 * line written to a report part (`parts`); `byte` is where line `line` starts.
 */
export interface TaskCheckpoint {
  readonly line: number;
  readonly byte: number;
  readonly successCount: number;
  readonly failureCount: number;
  /** Report objects written so far, per report type. */
  readonly parts: { readonly RESULTS: number; readonly ERRORS: number };
}

export interface TaskRecord {
  readonly kind: 'task';
  readonly taskId: string;
  readonly templateBody: string;
  readonly inputFileBucket: string;
  readonly inputFileKey: string;
  readonly roleArn: string;
  readonly status: TaskStatus;
  readonly message?: string;
  /** The input's size, once known: percentageProgress is bytes done over it. */
  readonly inputBytes?: number;
  readonly checkpoint: TaskCheckpoint;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type ProvisioningValue = TemplateRecord | TaskRecord;

export const KEYS = {
  template: (name: string) => `template/${name}`,
  task: (id: string) => `task/${id}`,
} as const;

const epochMs = z.number().int();

const templateSchema: z.ZodType<TemplateRecord> = z.object({
  kind: z.literal('template'),
  templateName: z.string().regex(PROVISIONING_LIMITS.templateName),
  description: z.string().optional(),
  enabled: z.boolean(),
  provisioningRoleArn: z.string(),
  preProvisioningHook: z.object({ targetArn: z.string(), payloadVersion: z.string() }).optional(),
  type: z.enum(TEMPLATE_TYPES),
  defaultVersionId: z.number().int().positive(),
  nextVersionId: z.number().int().positive(),
  versions: z.array(z.object({ versionId: z.number().int().positive(), templateBody: z.string(), createdAt: epochMs })).min(1),
  createdAt: epochMs,
  updatedAt: epochMs,
});

const count = z.number().int().nonnegative();
const taskSchema: z.ZodType<TaskRecord> = z.object({
  kind: z.literal('task'),
  taskId: z.string().regex(PROVISIONING_LIMITS.taskId),
  templateBody: z.string(),
  inputFileBucket: z.string(),
  inputFileKey: z.string(),
  roleArn: z.string(),
  status: z.enum(TASK_STATUSES),
  message: z.string().optional(),
  inputBytes: count.optional(),
  checkpoint: z.object({ line: count, byte: count, successCount: count, failureCount: count, parts: z.object({ RESULTS: count, ERRORS: count }) }),
  createdAt: epochMs,
  updatedAt: epochMs,
});

const UNKNOWN_KEY = z.never({ error: 'the key has no provisioning record kind (expected template/ or task/)' });

export const provisioningCodec: StateCodec<ProvisioningValue> = jsonCodec<ProvisioningValue>({
  name: 'provisioning record',
  version: 1,
  schema: (key: string) => (key.startsWith('template/') ? templateSchema : key.startsWith('task/') ? taskSchema : UNKNOWN_KEY) as z.ZodType<ProvisioningValue>,
});

export const templateArn = (region: string, accountId: string, name: string): string => `arn:aws:iot:${region}:${accountId}:provisioningtemplate/${name}`;
