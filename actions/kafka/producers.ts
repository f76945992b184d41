/**
 * The Kafka clusters kafka actions write to. With no `bootstrap.servers` in an action's
 * `client_properties`, records go to the log kiot runs on (the embedded log by default, or the
 * cluster of `--kafka`); with one, to a KafkaLog for that cluster, shared by every action
 * that names the same brokers. kafkajs itself stays inside core/log/kafka/.
 */
import { KafkaLog, topicSpec, type AppendRecord, type Log, type Logger } from '../../core/index.js';

export type LogFactory = (brokers: readonly string[]) => Log;

export class KafkaProducers {
  readonly #logs = new Map<string, Log>();
  readonly #ensured = new WeakMap<Log, Map<string, Promise<void>>>();
  readonly #factory: LogFactory;

  constructor(
    private readonly defaultLog: Log,
    logger: Logger,
    factory?: LogFactory,
  ) {
    this.#factory = factory ?? ((brokers) => new KafkaLog({ brokers: [...brokers], logger, clientId: 'kiot-kafka-action' }));
  }

  /** The log for `brokers` (comma-separated `host:port`), or the default log when absent. */
  logFor(brokers: string | undefined): Log {
    const list = (brokers ?? '').split(',').map((b) => b.trim()).filter(Boolean);
    if (list.length === 0) return this.defaultLog;
    const id = list.join(',');
    let log = this.#logs.get(id);
    if (!log) {
      log = this.#factory(list);
      this.#logs.set(id, log);
    }
    return log;
  }

  /**
   * Ensures the topic once per log (the embedded log refuses appends to unknown topics), as the
   * topic catalogue specifies it when it is one of kiot's own (a rule that writes to
   * `iot.dead-letter` must not create it with other partitions than kiot would), else with the
   * log's defaults.
   */
  async append(log: Log, topic: string, records: readonly AppendRecord[]): Promise<void> {
    let ensured = this.#ensured.get(log);
    if (!ensured) this.#ensured.set(log, (ensured = new Map()));
    let ready = ensured.get(topic);
    if (!ready) {
      ready = log.ensureTopic(topicSpec(topic));
      ensured.set(topic, ready);
      ready.catch(() => ensured!.delete(topic));
    }
    await ready;
    await log.append(topic, records);
  }

  /** Closes the logs this pool opened (never the default log). Safe to call twice. */
  async close(): Promise<void> {
    const logs = [...this.#logs.values()];
    this.#logs.clear();
    await Promise.all(logs.map((l) => l.close()));
  }
}
