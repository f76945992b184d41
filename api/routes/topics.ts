/**
 * kiot's own view of its log (`kiot topics tail`): `GET /kiot/topics/{topic}/records` answers
 * the last records of a topic, oldest first, so that what lands on a topic no MQTT client
 * reads (an error action's, the dead letters) can be seen. Envelopes are shown decoded, other
 * values as UTF-8 text (base64 when they are not). Administrator keys only: it reads every
 * device's messages.
 *
 * Query: `limit` (records per partition, default 20, at most 1,000); `from` (`p:offset,...`,
 * what the last answer's `next` said) to read on from there instead.
 */
import { PlatformError, TOPICS, decodeEnvelope, readRange, type Log, type LogRecord } from '../../core/index.js';
import type { AwsOperation } from '../operation.js';
import { queryInteger, queryString } from './aws-input.js';

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1_000;
const KNOWN = new Set<string>(Object.values(TOPICS));

export function topicOperations(log: Log): AwsOperation[] {
  return [
    {
      name: 'KiotTailTopic',
      method: 'GET',
      path: '/kiot/topics/{topic}/records',
      access: 'admin',
      async handle(request) {
        const topic = request.params['topic']!;
        const limit = queryInteger(request, 'limit') ?? DEFAULT_LIMIT;
        if (limit < 1 || limit > MAX_LIMIT) throw new PlatformError('INPUT_INVALID', `limit: expected 1 to ${MAX_LIMIT}, not ${limit}`);
        const from = parseFrom(queryString(request, 'from'));
        const offsets = await log.offsets(topic).catch((err: unknown) => {
          if (err instanceof PlatformError && err.code === 'LOG_TOPIC_UNKNOWN') throw unknownTopic(topic, err);
          throw err;
        });
        if (offsets.length === 0) throw unknownTopic(topic);
        const starts = new Map<number, number>();
        const read = await readRange(log, {
          topic,
          start: ({ partition, low, high }) => {
            const start = Math.min(high, Math.max(low, from.get(partition) ?? high - limit));
            starts.set(partition, start);
            return start;
          },
        });
        // At most MAX_LIMIT records an answer, the oldest first; `next` goes on after the last one answered.
        const records = read.slice(0, MAX_LIMIT);
        const after = new Map(records.map((r) => [r.partition, r.offset + 1]));
        const next = offsets.map((o) => `${o.partition}:${after.get(o.partition) ?? starts.get(o.partition) ?? o.high}`).join(',');
        return { topic, records: records.map(show), next };
      },
    },
  ];
}

function unknownTopic(topic: string, cause?: unknown): PlatformError {
  return new PlatformError('REGISTRY_NOT_FOUND', `no topic ${topic} on this log (kiot's topics: ${[...KNOWN].sort().join(', ')})`, { ...(cause ? { cause } : {}) });
}

function parseFrom(text: string | undefined): Map<number, number> {
  const from = new Map<number, number>();
  if (!text) return from;
  for (const part of text.split(',')) {
    const m = /^(\d+):(\d+)$/.exec(part.trim());
    if (!m) throw new PlatformError('INPUT_INVALID', `from: expected partition:offset pairs separated by commas (as "next" says), not '${part}'`);
    from.set(Number(m[1]), Number(m[2]));
  }
  return from;
}

/** A record as JSON: the envelope's fields when it is one, else its value as text. */
function show(record: LogRecord): object {
  const base = { partition: record.partition, offset: record.offset, timestamp: new Date(record.timestamp).toISOString(), key: record.key?.toString('utf8') ?? null };
  if (!record.value) return { ...base, value: null };
  try {
    const e = decodeEnvelope(record.value);
    return { ...base, envelope: { topic: e.topic, qos: e.qos, clientId: e.clientId, ...text(e.payload, 'payload') } };
  } catch {
    return { ...base, ...text(record.value, 'value') };
  }
}

function text(bytes: Buffer, field: string): Record<string, string> {
  const utf8 = bytes.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(bytes) ? { [field]: utf8 } : { [`${field}Base64`]: bytes.toString('base64') };
}
