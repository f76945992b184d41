/**
 * Retained messages (MQTT 5 §3.3.1.3): the last retained message of each topic name, in the
 * state store over `iot.retained` (key = topic name). Every gateway and every HTTP publisher
 * opens one; writes need no owner, as the last retained message of a topic wins (MQTT has no
 * order between publishers either), so they use `StateStore.write`.
 */
import { decodeEnvelope, encodeEnvelope, StateStore, TOPICS, topicSpec, topicMatches, type Envelope, type Log, type Logger, type StateCodec } from '../core/index.js';

/**
 * Record layout: the state frame (`core/state/codec.ts`) around the message's Avro envelope
 * (`core/envelope`), which carries its own schema version. Version 0 is a bare envelope,
 * as the gateway wrote it before frames: the same bytes, so it decodes the same way.
 */
export const retainedCodec: StateCodec<Envelope> = {
  name: 'retained message',
  version: 1,
  encode: (envelope) => encodeEnvelope(envelope),
  decode: (bytes) => decodeEnvelope(bytes),
};

export interface RetainedStoreDeps {
  readonly log: Log;
  readonly logger: Logger;
}

export class RetainedStore {
  readonly #state: StateStore<Envelope>;

  private constructor(state: StateStore<Envelope>) {
    this.#state = state;
  }

  /** Ensures `iot.retained` and resolves once its messages are loaded. */
  static async open(deps: RetainedStoreDeps): Promise<RetainedStore> {
    return new RetainedStore(await StateStore.open({ log: deps.log, logger: deps.logger, topic: topicSpec(TOPICS.retained), codec: retainedCodec }));
  }

  /**
   * Keeps `envelope` as its topic's retained message, or clears the topic when the payload is
   * empty (MQTT §3.3.1.3). Resolves once durable; rejects (retry is safe) when the log is not.
   */
  store(envelope: Envelope): Promise<void> {
    return this.#state.write([{ key: envelope.topic, value: envelope.payload.length === 0 ? null : envelope }]);
  }

  /** Retained messages whose topic matches `filter` and that have not expired (MQTT 5 §3.3.2.3.3) at `now`. */
  matching(filter: string, now: number): Envelope[] {
    const out: Envelope[] = [];
    for (const [topic, envelope] of this.#state.entries()) {
      if (!topicMatches(filter, topic)) continue;
      if (envelope.messageExpiryIntervalSec !== undefined && envelope.receivedAt + envelope.messageExpiryIntervalSec * 1000 <= now) continue;
      out.push(envelope);
    }
    return out;
  }

  /** The retained message of one topic name, if any (expired or not: AWS lists them until cleared). */
  get(topic: string): Envelope | undefined {
    return this.#state.get(topic);
  }

  /** Every retained message. */
  all(): Envelope[] {
    return [...this.#state.entries()].map(([, envelope]) => envelope);
  }

  /** Stops following the topic. Safe twice. */
  close(): Promise<void> {
    return this.#state.close();
  }
}
