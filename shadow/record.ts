/**
 * How a shadow is stored on `iot.shadows` (key: see topics.ts `shadowKey`): the document's state,
 * metadata, version and timestamp as JSON, checked on every decode.
 */
import { z } from 'zod';
import { jsonCodec, type StateCodec } from '../core/index.js';
import type { JsonObject, MetadataTree, StoredShadow } from './document.js';

const jsonObject = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;
const metadataTree = z.record(z.string(), z.unknown()) as unknown as z.ZodType<MetadataTree>;

export const storedShadowSchema: z.ZodType<StoredShadow> = z.object({
  state: z.object({ desired: jsonObject.optional(), reported: jsonObject.optional() }),
  metadata: z.object({ desired: metadataTree.optional(), reported: metadataTree.optional() }),
  version: z.number().int().min(1),
  timestamp: z.number().int().min(0),
}) as unknown as z.ZodType<StoredShadow>;

export const shadowCodec: StateCodec<StoredShadow> = jsonCodec<StoredShadow>({ name: 'shadow', version: 1, schema: storedShadowSchema });
