/**
 * The one way a message enters kiot: the gateway (PUBLISH, wills, lifecycle events), HTTP
 * publish and the bridge all hand their envelopes to an ingest writer. It validates the topic,
 * encodes the envelope with its key and headers (DESIGN.md "Envelope"), appends it to
 * `iot.ingress`, and keeps a retained message in `iot.retained`. Whoever acknowledges a message
 * (PUBACK, an HTTP 200, the bridge's PUBACK to its broker) waits for `write` first.
 *
 * Appends are group commits: the writes of one event-loop turn (every connection's publishes
 * that arrived in it) go out in one `log.append`, one call and one durable write instead of one
 * per message. Appends are not serialised behind each other: both logs keep the order of
 * their calls within a partition (the embedded log queues each partition's appends in call
 * order, the Kafka log has one request in flight), which is what keeps one client's messages
 * in order (MQTT §4.6), while the partitions' own group commits overlap.
 *
 * A service of the same process may take a message instead (`takers`, core's MessageTaker: the
 * shadow service, for requests on the shadows it owns) and append it with its answer; should it
 * not manage to, the message is appended here as any other. A taken message is ordered with the
 * service's other requests on the same target, not with the connection's other messages.
 */
import {
  PlatformError,
  TOPICS,
  envelopeRecord,
  isValidTopicName,
  type AppendRecord,
  type Envelope,
  type Log,
  type Logger,
  type MessageTaker,
  ORIGIN_HEADER,
} from '../core/index.js';
import type { RetainedStore } from './retained-store.js';

/** Records in one append at most: bounds one append's size and latency under a flood. */
const MAX_APPEND_BATCH = 500;

export interface IngestWriterDeps {
  readonly log: Log;
  readonly logger: Logger;
  /**
   * Where retained messages are kept. Without one, `retain` is only recorded on the envelope
   * (the bridge: retained messages stay the external broker's).
   */
  readonly retained?: RetainedStore;
  /** Written as the `kiot-origin` header: the gateway that delivered the message locally already. */
  readonly origin?: string;
  /** Services of this process that may answer a message as it is written (see the module comment); asked in order. */
  readonly takers?: readonly MessageTaker[];
}

export interface IngestWriter {
  /**
   * Appends `envelope` to `iot.ingress` and, when retained (and a retained store is given),
   * stores it as its topic's retained message (an empty payload clears it, MQTT §3.3.1.3).
   * The returned promise resolves once both are durable; it rejects when the log did not take
   * the message (retry is safe: at worst a duplicate, never a loss).
   * @throws PlatformError INPUT_INVALID synchronously, before anything is queued, for a topic
   *   that is not a valid topic name (MQTT 5 §4.7.3) or an envelope that does not encode:
   *   sending it again cannot help.
   */
  write(envelope: Envelope): Promise<void>;
  /**
   * `write` for a caller that keeps its own record of each message (the gateway's inbound
   * queue): `listener.written` is called once, with no argument when the message is durable,
   * or with the error. No promise per message. Throws as `write` does.
   */
  writeTo(envelope: Envelope, listener: WriteListener): void;
  /** Messages written and not yet appended to `iot.ingress` (a caller's backpressure signal). */
  readonly pending: number;
}

export interface WriteListener {
  written(err?: unknown): void;
}

interface Pending {
  readonly record: AppendRecord;
  readonly listener: WriteListener;
}

/** A `write` promise's side of a WriteListener. */
class Settle implements WriteListener {
  constructor(
    readonly resolve: () => void,
    readonly reject: (err: unknown) => void,
  ) {}

  written(err?: unknown): void {
    if (err === undefined) this.resolve();
    else this.reject(err);
  }
}

export function createIngestWriter(deps: IngestWriterDeps): IngestWriter {
  const { log, retained } = deps;
  const origin = deps.origin;
  const takers = deps.takers ?? [];
  let queue: Pending[] = [];
  /** Written and not yet settled. */
  let inFlight = 0;

  const flush = (): void => {
    const all = queue;
    queue = [];
    for (let start = 0; start < all.length; start += MAX_APPEND_BATCH) {
      const batch = all.length <= MAX_APPEND_BATCH ? all : all.slice(start, start + MAX_APPEND_BATCH);
      log.append(TOPICS.ingress, batch.map((p) => p.record)).then(
        () => {
          inFlight -= batch.length;
          for (const p of batch) p.listener.written();
        },
        (err: unknown) => {
          inFlight -= batch.length;
          for (const p of batch) p.listener.written(err ?? new Error('append failed'));
        },
      );
    }
  };

  const enqueue = (record: AppendRecord, listener: WriteListener): void => {
    queue.push({ record, listener });
    inFlight++;
    if (queue.length === 1) setImmediate(flush); // gather the rest of this turn's writes into the same append
  };

  /** Hands the message to the first taker that takes it, else to this turn's append; a taker that fails to append it hands it back. */
  const append = (envelope: Envelope, record: AppendRecord, listener: WriteListener): void => {
    for (const taker of takers) {
      const taken = taker.take(envelope, record);
      if (!taken) continue;
      inFlight++;
      taken.then(
        () => {
          inFlight--;
          listener.written();
        },
        (err: unknown) => {
          inFlight--;
          deps.logger.debug({ err, topic: envelope.topic }, 'a message taken by a service was not appended by it; appending it');
          enqueue(record, listener);
        },
      );
      return;
    }
    enqueue(record, listener);
  };

  const write = (envelope: Envelope): Promise<void> => {
    const record = toRecord(envelope, origin);
    const appended = new Promise<void>((resolve, reject) => append(envelope, record, new Settle(resolve, reject)));
    if (!envelope.retain || !retained) return appended;
    return appended.then(() => retained.store(envelope));
  };

  return {
    get pending() {
      return inFlight;
    },
    write,
    writeTo(envelope, listener) {
      if (envelope.retain && retained) {
        write(envelope).then(
          () => listener.written(),
          (err: unknown) => listener.written(err ?? new Error('retained store failed')),
        );
      } else {
        append(envelope, toRecord(envelope, origin), listener);
      }
    },
  };
}

/** The log record of an envelope: key and headers as DESIGN.md "Envelope" has them. */
function toRecord(envelope: Envelope, origin: string | undefined): AppendRecord {
  if (!isValidTopicName(envelope.topic)) {
    throw new PlatformError('INPUT_INVALID', `topic: expected a topic name without + or #, received ${JSON.stringify(envelope.topic)}`, { details: { field: 'topic' } });
  }
  let record: { -readonly [K in keyof ReturnType<typeof envelopeRecord>]: ReturnType<typeof envelopeRecord>[K] };
  try {
    record = envelopeRecord(envelope);
  } catch (err) {
    if (err instanceof PlatformError) throw err;
    throw new PlatformError('INPUT_INVALID', `message on ${envelope.topic} does not fit the envelope: ${(err as Error).message}`, { cause: err, details: { field: 'envelope' } });
  }
  if (origin === undefined) return record;
  if (record.headers) record.headers[ORIGIN_HEADER] = origin;
  else record.headers = { [ORIGIN_HEADER]: origin };
  return record;
}
