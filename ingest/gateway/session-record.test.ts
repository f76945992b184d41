/** The session record codec: framed records, records from before frames, and bad records refused. */
import { expect, test } from 'vitest';
import { decodeFrame, encodeFrame, PlatformError } from '../../core/index.js';
import { sessionRecordCodec, type SessionRecord } from './session-record.js';

const record: SessionRecord = {
  v: 1,
  clientId: 'pump-1',
  owner: 'gw-1',
  connected: false,
  persistent: true,
  expiryIntervalSec: 3600,
  disconnectedAt: 1_700_000_000_000,
  versionNumber: 4,
  principal: 'cert-1',
  subscriptions: [{ filter: 'cmd/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  messages: [{ t: 'cmd/1', p: Buffer.from('go').toString('base64'), q: 1, r: false, id: 7, st: 'publish' }],
  incomingQos2: [3],
};

test('a record round-trips through its frame with its revision', () => {
  const frame = decodeFrame(sessionRecordCodec, encodeFrame(sessionRecordCodec, record, 5), 'pump-1');
  expect(frame).toEqual({ value: record, revision: 5 });
});

test('a plain JSON record written before frames loads as schema version 0', () => {
  const { principal: _, ...legacy } = record; // records of that time had no owner principal either
  const frame = decodeFrame(sessionRecordCodec, Buffer.from(JSON.stringify(legacy)), 'pump-1');
  expect(frame.revision).toBe(0);
  expect(frame.value.principal).toBeUndefined();
  expect(frame.value.subscriptions).toEqual(record.subscriptions);
});

test('a record that does not fit the schema is refused with the field that is wrong', () => {
  const bad = { ...record, messages: [{ t: 'cmd/1', p: 'x', q: 3, r: false }] };
  let caught: unknown;
  try {
    decodeFrame(sessionRecordCodec, Buffer.from(JSON.stringify(bad)), 'pump-1');
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PlatformError);
  expect((caught as PlatformError).code).toBe('STATE_RECORD_INVALID');
  expect((caught as PlatformError).message).toContain('messages.0.q');
});
