/**
 * The thing registry's records (things, thing types, thing groups), their keys on the
 * compacted `iot.registry` topic, AWS IoT's naming rules and limits, and ARNs.
 *
 * Record layout: key `<kind>/<name>`, value the record as JSON in a state frame
 * (`../store.ts`). Kinds: `thing/`, `thingType/`, `thingGroup/`. The security records
 * (certificates, policies, attachments) live beside them under other prefixes
 * (`../principals/store.ts`).
 */
import { z } from 'zod';
import { PlatformError } from '../../core/index.js';

/** The region in ARNs when none is configured (the AWS SDKs' and CLI's usual default). */
export const DEFAULT_ARN_REGION = 'us-east-1';

export const KEY_PREFIX = { thing: 'thing/', thingType: 'thingType/', thingGroup: 'thingGroup/' } as const;

export interface GroupMembership {
  readonly groupName: string;
  /** AWS IoT: an id for the thing↔group relation, generated when the thing is added. */
  readonly membershipId: string;
}

export interface ThingRecord {
  readonly kind: 'thing';
  readonly thingName: string;
  readonly thingId: string;
  readonly thingTypeName?: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** 1 on create, +1 on every UpdateThing (AWS IoT's `version`). */
  readonly version: number;
  /** Direct (static) group memberships, in the order added. */
  readonly groups: readonly GroupMembership[];
  readonly billingGroupName?: string;
  /** ms since the epoch. */
  readonly createdAt: number;
}

export interface ThingTypeRecord {
  readonly kind: 'thingType';
  readonly thingTypeName: string;
  readonly thingTypeId: string;
  readonly description?: string;
  readonly searchableAttributes: readonly string[];
  /** Kept as given (AWS's Mqtt5Configuration: propagatingAttributes). */
  readonly mqtt5Configuration?: unknown;
  readonly deprecated: boolean;
  /** ms since the epoch, while deprecated. */
  readonly deprecationDate?: number;
  readonly createdAt: number;
}

export interface ThingGroupRecord {
  readonly kind: 'thingGroup';
  readonly thingGroupName: string;
  readonly thingGroupId: string;
  /** Set at creation only; AWS IoT does not move groups. */
  readonly parentGroupName?: string;
  readonly description?: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly version: number;
  readonly createdAt: number;
}

export type RegistryRecord = ThingRecord | ThingTypeRecord | ThingGroupRecord;

/**
 * A string map, checked in place rather than copied: zod's `record` drops a `__proto__` key
 * while copying, and `__proto__` is a valid AWS attribute name (see `validateAttributes`).
 */
const stringMap = z.custom<Readonly<Record<string, string>>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((s) => typeof s === 'string'),
  { message: 'expected an object of string values' },
);
const epochMs = z.number().int().nonnegative();

export const thingRecordSchema: z.ZodType<ThingRecord> = z.object({
  kind: z.literal('thing'),
  thingName: z.string().min(1),
  thingId: z.string().min(1),
  thingTypeName: z.string().optional(),
  attributes: stringMap,
  version: z.number().int().positive(),
  groups: z.array(z.object({ groupName: z.string().min(1), membershipId: z.string().min(1) })),
  billingGroupName: z.string().optional(),
  createdAt: epochMs,
});

export const thingTypeRecordSchema: z.ZodType<ThingTypeRecord> = z.object({
  kind: z.literal('thingType'),
  thingTypeName: z.string().min(1),
  thingTypeId: z.string().min(1),
  description: z.string().optional(),
  searchableAttributes: z.array(z.string()),
  mqtt5Configuration: z.unknown().optional(),
  deprecated: z.boolean(),
  deprecationDate: epochMs.optional(),
  createdAt: epochMs,
});

export const thingGroupRecordSchema: z.ZodType<ThingGroupRecord> = z.object({
  kind: z.literal('thingGroup'),
  thingGroupName: z.string().min(1),
  thingGroupId: z.string().min(1),
  parentGroupName: z.string().optional(),
  description: z.string().optional(),
  attributes: stringMap,
  version: z.number().int().positive(),
  createdAt: epochMs,
});

/** The schema of each thing registry key prefix. */
export const THING_SCHEMAS: readonly (readonly [prefix: string, schema: z.ZodType<RegistryRecord>])[] = [
  [KEY_PREFIX.thing, thingRecordSchema],
  [KEY_PREFIX.thingType, thingTypeRecordSchema],
  [KEY_PREFIX.thingGroup, thingGroupRecordSchema],
];

export const recordKey = (record: RegistryRecord): string => {
  switch (record.kind) {
    case 'thing':
      return KEY_PREFIX.thing + record.thingName;
    case 'thingType':
      return KEY_PREFIX.thingType + record.thingTypeName;
    case 'thingGroup':
      return KEY_PREFIX.thingGroup + record.thingGroupName;
  }
};

/** AWS IoT limits (AWS IoT Core endpoints and quotas; API reference patterns). */
export const LIMITS = {
  /** A thing can belong to at most 10 thing groups. */
  groupsPerThing: 10,
  /** A thing group hierarchy is at most 7 levels deep. */
  groupDepth: 7,
  /** Attributes of a thing without a thing type. */
  attributesUntyped: 3,
  /** Attributes of a thing with a thing type. */
  attributesTyped: 50,
  /** Searchable attributes of a thing type. */
  searchableAttributes: 3,
  attributeNameLength: 128,
  attributeValueLength: 800,
  descriptionLength: 2028,
} as const;

/** ThingName, ThingTypeName, ThingGroupName: `[a-zA-Z0-9:_-]+`, 1–128 characters. */
const NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
/** AttributeName: `[a-zA-Z0-9_.,@/:#-]+`. */
const ATTRIBUTE_NAME = /^[a-zA-Z0-9_.,@/:#-]+$/;
/** AttributeValue: `[a-zA-Z0-9_.,@/:#=\[\]-]*`. */
const ATTRIBUTE_VALUE = /^[a-zA-Z0-9_.,@/:#=[\]-]*$/;

export const invalid = (message: string, field?: string): PlatformError =>
  new PlatformError('REGISTRY_INVALID', message, { details: field ? { field } : {} });

/** Throws REGISTRY_INVALID unless `name` is a valid thing, thing type or group name. */
export function validateName(field: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw invalid(`1 validation error detected: Value '${String(name)}' at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+ and have length between 1 and 128`, field);
  }
  return name;
}

/** Validates an attribute map (names and values as AWS allows them). */
export function validateAttributes(field: string, attributes: unknown): Record<string, string> {
  if (attributes === undefined || attributes === null) return {};
  if (typeof attributes !== 'object' || Array.isArray(attributes)) throw invalid(`${field}: expected an object of string values`, field);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (name.length > LIMITS.attributeNameLength || !ATTRIBUTE_NAME.test(name)) throw invalid(`${field}: attribute name '${name}' must match [a-zA-Z0-9_.,@/:#-]+ and be at most 128 characters`, field);
    if (typeof value !== 'string') throw invalid(`${field}.${name}: expected a string value`, field);
    if (value.length > LIMITS.attributeValueLength || !ATTRIBUTE_VALUE.test(value)) throw invalid(`${field}.${name}: value must match [a-zA-Z0-9_.,@/:#=\\[\\]-]* and be at most 800 characters`, field);
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** ARNs in AWS IoT's format, for one region and account. */
export interface Arns {
  readonly region: string;
  readonly accountId: string;
  thing(name: string): string;
  thingType(name: string): string;
  thingGroup(name: string): string;
  rule(name: string): string;
}

export function createArns(region: string, accountId: string): Arns {
  const base = `arn:aws:iot:${region}:${accountId}:`;
  return {
    region,
    accountId,
    thing: (name) => `${base}thing/${name}`,
    thingType: (name) => `${base}thingtype/${name}`,
    thingGroup: (name) => `${base}thinggroup/${name}`,
    rule: (name) => `${base}rule/${name}`,
  };
}

/** The resource name at the end of an IoT ARN (`arn:aws:iot:r:a:thing/x` → `x`), or undefined. */
export function nameFromArn(arn: string, resource: 'thing' | 'thinggroup'): string | undefined {
  const m = /^arn:[^:]+:iot:[^:]*:[^:]*:([a-z]+)\/(.+)$/.exec(arn);
  return m && m[1] === resource ? m[2] : undefined;
}
