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

export const isRebalanceError = (err: unknown): boolean => {
  const type = (err as KafkaJsErrorShape | null)?.type;
  return type !== undefined && REBALANCE_TYPES.has(type);
};

export const isUnknownTopicError = (err: unknown): boolean => {
  for (let e: unknown = err; e; e = (e as KafkaJsErrorShape).cause) {
    if ((e as KafkaJsErrorShape).type === 'UNKNOWN_TOPIC_OR_PARTITION') return true;
  }
  return false;
};

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
