/**
 * Egress: reads envelopes off the log and hands them to a delivery function. Every gateway
 * process runs one in a consumer group of its own (so each sees every record) starting at
 * the latest offset: messages published on other gateways (`iot.ingress`) and messages the
 * platform sends to devices (`iot.egress`: republish, shadow, jobs).
 */
import { decodeEnvelope, type Consumer, type Envelope, type Log, type Logger, type LogRecord } from '../../core/index.js';

/** Header a gateway puts on the records it appends, so that it can skip its own on the way back. */
export const ORIGIN_HEADER = 'kiot-origin';

export interface EgressOptions {
  readonly log: Log;
  readonly logger: Logger;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Records carrying this origin header were delivered locally already and are skipped. */
  readonly skipOrigin?: string;
  /** Called in log order per partition; must not throw for one bad message (it is logged and skipped). */
  readonly deliver: (envelope: Envelope, record: LogRecord) => void;
}

export interface EgressConsumer {
  /** Resolves once the consumer holds its partitions. */
  start(): Promise<void>;
  /** Safe twice. */
  stop(): Promise<void>;
}

export function createEgressConsumer(options: EgressOptions): EgressConsumer {
  const logger = options.logger.child({ module: 'ingest.egress' });
  const skip = options.skipOrigin === undefined ? undefined : Buffer.from(options.skipOrigin);
  let consumer: Consumer | undefined;
  let stopping: Promise<void> | undefined;
  return {
    async start() {
      consumer = options.log.consumer({
        groupId: options.groupId,
        topics: options.topics,
        startFrom: 'latest',
        eachBatch: async (batch) => {
          for (const record of batch.records) {
            const origin = record.headers[ORIGIN_HEADER];
            if (skip && origin && origin.equals(skip)) continue;
            if (!record.value) continue;
            let envelope: Envelope;
            try {
              envelope = decodeEnvelope(record.value);
            } catch (err) {
              logger.warn({ err, topic: record.topic, partition: record.partition, offset: record.offset }, 'skipping a record that is not an envelope');
              continue;
            }
            try {
              options.deliver(envelope, record);
            } catch (err) {
              logger.error({ err, topic: envelope.topic }, 'delivery failed');
            }
          }
          // Nothing is committed: the group starts at the latest offset whenever the gateway
          // starts, and delivery to sessions is in memory (a commit would cost an fsync per batch).
        },
      });
      await consumer.start();
    },
    stop() {
      return (stopping ??= consumer ? consumer.stop() : Promise.resolve());
    },
  };
}
