/**
 * How a session is stored in `iot.sessions` (key = client id): JSON in a state frame
 * (`core/state/codec.ts`), checked with zod on every decode.
 *
 * Layout of the value (schema version 1):
 *   { v: 1, clientId, owner (gateway id), connected, persistent, expiryIntervalSec,
 *     disconnectedAt?, versionNumber, principal?, subscriptions: [{ filter, qos, noLocal,
 *     retainAsPublished, retainHandling, subscriptionId? }], messages: StoredMessage[],
 *     incomingQos2: number[] }
 * Version 0 is the same JSON without a frame, as gateways wrote it before the state store;
 * a record without `principal` predates owners and counts as anonymous.
 */
import { z } from 'zod';
import { jsonCodec, type StateCodec } from '../../core/index.js';
import type { StoredMessage } from './message.js';
import type { SubscriptionOptions } from './session.js';

/** Layout of a value in `iot.sessions` (see the module comment). */
export interface SessionRecord {
  readonly v: 1;
  readonly clientId: string;
  /** Gateway that wrote the record. */
  readonly owner: string;
  readonly connected: boolean;
  /** False for a clean session that ended (the record then keeps only the version number). */
  readonly persistent: boolean;
  readonly expiryIntervalSec: number;
  readonly disconnectedAt?: number | undefined;
  /** Lifecycle-event version: one more on every connect of this client id. */
  readonly versionNumber: number;
  /**
   * Principal that owns the session (certificate id, custom-authorizer principal or
   * `anonymous`). Records written before this field existed have none: they count as anonymous.
   */
  readonly principal?: string | undefined;
  readonly subscriptions: readonly (SubscriptionOptions & { readonly filter: string })[];
  readonly messages: readonly StoredMessage[];
  readonly incomingQos2: readonly number[];
}

/** An idle session's record, kept in iot.sessions' table for every client, has three empty lists: one frozen one serves them all. */
const EMPTY: readonly never[] = Object.freeze([]);
const shareEmpty = <T>(list: T[]): readonly T[] => (list.length === 0 ? EMPTY : list);

const qos = z.union([z.literal(0), z.literal(1), z.literal(2)]);

const storedMessageSchema = z.object({
  t: z.string(),
  p: z.string(),
  q: qos,
  r: z.boolean(),
  s: z.array(z.number().int()).optional(),
  x: z.number().optional(),
  u: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  ct: z.string().optional(),
  rt: z.string().optional(),
  cd: z.string().optional(),
  pf: z.number().int().optional(),
  id: z.number().int().min(1).max(65_535).optional(),
  st: z.enum(['publish', 'pubrel']).optional(),
});

const sessionRecordSchema = z.object({
  v: z.literal(1),
  clientId: z.string(),
  owner: z.string(),
  connected: z.boolean(),
  persistent: z.boolean(),
  expiryIntervalSec: z.number().int().min(0),
  disconnectedAt: z.number().optional(),
  versionNumber: z.number().int().min(0),
  principal: z.string().optional(),
  subscriptions: z
    .array(
      z.object({
        filter: z.string(),
        qos,
        noLocal: z.boolean(),
        retainAsPublished: z.boolean(),
        retainHandling: qos,
        subscriptionId: z.number().int().optional(),
      }),
    )
    .transform(shareEmpty),
  messages: z.array(storedMessageSchema).transform(shareEmpty),
  incomingQos2: z.array(z.number().int()).transform(shareEmpty),
});

export const sessionRecordCodec: StateCodec<SessionRecord> = jsonCodec<SessionRecord>({
  name: 'session',
  version: 1,
  schema: sessionRecordSchema,
  // Version 0 (plain JSON, before frames) has the same shape: nothing to change.
});
