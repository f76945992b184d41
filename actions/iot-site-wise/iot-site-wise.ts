/**
 * `iot_site_wise`: sends asset property values to AWS IoT SiteWise (AWS IoT developer guide,
 * iotsitewise-rule-action; API reference, IotSiteWiseAction and PutAssetPropertyValueEntry):
 * `put_asset_property_value_entries`, each with `entry_id` (default a new UUID), `asset_id` and
 * `property_id` or `property_alias`, and `property_values`: `value` (one of `string_value`,
 * `integer_value`, `double_value`, `boolean_value`), `timestamp` (`time_in_seconds`,
 * `offset_in_nanos`) and `quality` (GOOD, BAD or UNCERTAIN); every string a template, numbers
 * checked once rendered. Each message gives one SiteWise entry per configured entry; a batch is
 * BatchPutAssetPropertyValue requests of 10 entries (SiteWise API reference), and entries listed
 * in `errorEntries` fail their messages alone. The client is built with `disableHostPrefix`, so
 * that a local endpoint is not prefixed with `data.`. This is the one place that imports
 * `@aws-sdk/client-iotsitewise`.
 */
import { randomUUID } from 'node:crypto';
import type { IoTSiteWiseClient, PutAssetPropertyValueEntry, Quality, Variant } from '@aws-sdk/client-iotsitewise';
import { z } from 'zod';
import { awsAction, entryError } from '../aws/index.js';
import { crossChecked, paramsSchema } from '../runtime/params.js';

export const SITEWISE_MAX_ENTRIES = 10;
const RETRIABLE = new Set(['InternalFailureException', 'ThrottlingException', 'LimitExceededException', 'ServiceUnavailableException']);
const QUALITIES = ['GOOD', 'BAD', 'UNCERTAIN'];

const variant = z.strictObject({
  string_value: z.string().optional(),
  integer_value: z.string().optional(),
  double_value: z.string().optional(),
  boolean_value: z.string().optional(),
});
const propertyValue = z.strictObject({
  value: variant,
  timestamp: z.strictObject({ time_in_seconds: z.string().min(1), offset_in_nanos: z.string().optional() }),
  quality: z.string().optional(),
});
const entry = z.strictObject({
  entry_id: z.string().optional(),
  asset_id: z.string().optional(),
  property_id: z.string().optional(),
  property_alias: z.string().optional(),
  property_values: z.array(propertyValue).min(1),
});

const schema = crossChecked(
  paramsSchema({
    put_asset_property_value_entries: z.array(entry).min(1),
    role_arn: z.string().optional(),
  }),
  (p, problem) => {
    p.put_asset_property_value_entries.forEach((e, i) => {
      const at = `put_asset_property_value_entries[${i}]`;
      if (!e.property_alias && !(e.asset_id && e.property_id)) problem('put_asset_property_value_entries', `${at}: expected property_alias, or asset_id and property_id`);
      e.property_values.forEach((v, k) => {
        if (Object.keys(v.value).length !== 1) problem('put_asset_property_value_entries', `${at}.property_values[${k}].value: expected exactly one of string_value, integer_value, double_value, boolean_value`);
      });
    });
  },
);

export type IotSiteWiseConfig = ReturnType<typeof schema.parse>;

/** A rendered value as SiteWise's Variant, or a problem. */
function toVariant(v: z.infer<typeof variant>): Variant | string {
  if (v.string_value !== undefined) return { stringValue: v.string_value };
  if (v.integer_value !== undefined) return /^-?\d+$/.test(v.integer_value.trim()) ? { integerValue: Number(v.integer_value) } : `integer_value ${JSON.stringify(v.integer_value)} is not an integer`;
  if (v.double_value !== undefined) {
    const d = v.double_value.trim() === '' ? Number.NaN : Number(v.double_value);
    return Number.isFinite(d) ? { doubleValue: d } : `double_value ${JSON.stringify(v.double_value)} is not a number`;
  }
  if (v.boolean_value === 'true' || v.boolean_value === 'false') return { booleanValue: v.boolean_value === 'true' };
  return `boolean_value ${JSON.stringify(v.boolean_value)} is not true or false`;
}

function toEntry(e: z.infer<typeof entry>): PutAssetPropertyValueEntry | string {
  const propertyValues = [];
  for (const v of e.property_values) {
    const value = toVariant(v.value);
    if (typeof value === 'string') return value;
    const seconds = v.timestamp.time_in_seconds.trim();
    const nanos = (v.timestamp.offset_in_nanos ?? '0').trim();
    if (!/^\d+$/.test(seconds)) return `timestamp.time_in_seconds ${JSON.stringify(v.timestamp.time_in_seconds)} is not a whole number`;
    if (!/^\d+$/.test(nanos) || Number(nanos) > 999_999_999) return `timestamp.offset_in_nanos ${JSON.stringify(v.timestamp.offset_in_nanos)} is not 0 to 999999999`;
    const quality = v.quality === undefined || v.quality === '' ? undefined : v.quality;
    if (quality !== undefined && !QUALITIES.includes(quality)) return `quality ${JSON.stringify(quality)} is not GOOD, BAD or UNCERTAIN`;
    propertyValues.push({ value, timestamp: { timeInSeconds: Number(seconds), offsetInNanos: Number(nanos) }, ...(quality ? { quality: quality as Quality } : {}) });
  }
  return {
    entryId: e.entry_id || randomUUID(),
    ...(e.property_alias ? { propertyAlias: e.property_alias } : { assetId: e.asset_id, propertyId: e.property_id }),
    propertyValues,
  };
}

type Sdk = typeof import('@aws-sdk/client-iotsitewise');

export const createIotSiteWiseDefinition = awsAction<IotSiteWiseConfig, PutAssetPropertyValueEntry, Sdk, IoTSiteWiseClient>({
  type: 'iot_site_wise',
  awsKey: 'iotSiteWise',
  summary: 'send asset property values to AWS IoT SiteWise (BatchPutAssetPropertyValue)',
  config: schema,
  resourceParams: [],
  load: () => import('@aws-sdk/client-iotsitewise'),
  client: (m, options) => new m.IoTSiteWiseClient(options) as IoTSiteWiseClient,
  clientOptions: { disableHostPrefix: true },
  request: () => ({
    target: 'IoT SiteWise',
    maxEntries: SITEWISE_MAX_ENTRIES,
    group: () => 'properties',
    entries(record) {
      const entries: PutAssetPropertyValueEntry[] = [];
      for (const e of record.params.put_asset_property_value_entries) {
        const built = toEntry(e);
        if (typeof built === 'string') return built;
        entries.push(built);
      }
      return entries;
    },
    async send({ sdk: m, client }, _record, entries, signal) {
      // Entry ids must be unique within a request: when the rendered ones are not, number them.
      const unique = new Set(entries.map((e) => e.entryId)).size === entries.length;
      const sent = unique ? entries : entries.map((e, i) => ({ ...e, entryId: String(i) }));
      const out = await client.send(new m.BatchPutAssetPropertyValueCommand({ entries: [...sent] }), { abortSignal: signal });
      const errors = new Map((out.errorEntries ?? []).map((e) => [e.entryId, e.errors?.[0]]));
      return sent.map((entry) => {
        const e = errors.get(entry.entryId);
        return e ? entryError(e.errorCode, e.errorMessage, RETRIABLE) : undefined;
      });
    },
  }),
});

export const iotSiteWiseAction = createIotSiteWiseDefinition();
