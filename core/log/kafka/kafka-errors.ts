import { PlatformError } from '../../errors.js';

/** The fields of a kafkajs error that we branch on (kafkajs errors carry `type` for protocol codes). */
interface KafkaJsErrorShape {
  name?: string;
  type?: string;
  retriable?: boolean;
  message?: string;
  cause?: unknown;
}

/** kafkajs protocol error types that mean "this member is no longer in the generation that owns it". */
const REBALANCE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP']);

/** Whether `err` or one of its causes (kafkajs wraps the broker's error when its retries end) has one of `types`. */
const hasType = (err: unknown, types: ReadonlySet<string>): boolean => {
  for (let e: unknown = err; e; e = (e as KafkaJsErrorShape).cause) {
    const type = (e as KafkaJsErrorShape).type;
    if (type !== undefined && types.has(type)) return true;
  }
  return false;
};

export const isRebalanceError = (err: unknown): boolean => hasType(err, REBALANCE_TYPES);

/**
 * A crash kafkajs does not restart from, but a new member of the group recovers from:
 * INVALID_REQUEST is what librdkafka's mock cluster answers a follower's SyncGroup with when the
 * leader's assignment completed the generation first (a real broker waits for the follower).
 */
export const isRejoinableError = (err: unknown): boolean => hasType(err, new Set(['INVALID_REQUEST']));

export const isUnknownTopicError = (err: unknown): boolean => hasType(err, new Set(['UNKNOWN_TOPIC_OR_PARTITION']));

/**
 * Wraps a kafkajs error in a PlatformError. Anything from the client is LOG_UNAVAILABLE and
 * retriable (brokers down, leaders moving, timeouts: kafkajs has already retried), except
 * records the broker refuses as such and topics it does not know.
 */
export function fromKafkaError(err: unknown, what: string, details: Record<string, unknown> = {}): PlatformError {
  if (err instanceof PlatformError) return err;
  const e = (err ?? {}) as KafkaJsErrorShape;
  const text = `${what}: ${e.message ?? String(err)}`;
  if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'INVALID_RECORD' || e.type === 'CORRUPT_MESSAGE') {
    return new PlatformError('INPUT_INVALID', text, { cause: err, details: { ...details, kafkaError: e.type } });
  }
  if (isUnknownTopicError(err)) {
    return new PlatformError('LOG_TOPIC_UNKNOWN', text, { cause: err, details });
  }
  return new PlatformError('LOG_UNAVAILABLE', text, {
    cause: err,
    retriable: true,
    details: { ...details, kafkaError: e.type ?? e.name },
  });
}
