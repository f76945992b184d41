/**
 * `kafka`: writes the rule's output to a Kafka topic (AWS IoT, apache-kafka-rule-action).
 * Parameters: `topic`, `key`, `partition`, `headers` ([{key, value}]) — all templates — and
 * `client_properties` (`bootstrap.servers` picks the cluster; without it the record goes to
 * the log kiot runs on, which on the embedded default is the embedded log). `destination_arn`
 * is accepted and unused (kiot reaches the cluster directly, not through a VPC destination).
 */
import { z } from 'zod';
import {
  PlatformError,
  SinkBatchError,
  type ActionRecord,
  type AppendRecord,
  type Log,
  type RecordFailure,
  type Sink,
  type SinkDefinition,
} from '../../core/index.js';
import { actionDepsOf, outputBytes } from '../runtime/deps.js';
import { intOrTemplate, keyValueList, paramsSchema } from '../runtime/params.js';
import { KafkaProducers } from './producers.js';

const config = paramsSchema({
  topic: z.string().min(1),
  key: z.string().optional(),
  partition: intOrTemplate.optional(),
  headers: keyValueList.optional(),
  client_properties: z.record(z.string(), z.string()).optional(),
  destination_arn: z.string().optional(),
});

export type KafkaActionConfig = ReturnType<typeof config.parse>;

class KafkaSink implements Sink {
  constructor(
    private readonly producers: KafkaProducers,
    private readonly log: Log,
  ) {}

  async connect(): Promise<void> {}

  async writeBatch(records: readonly ActionRecord[]): Promise<void> {
    // One append per topic, keeping the records' order within each topic.
    const byTopic = new Map<string, { indexes: number[]; appends: AppendRecord[] }>();
    const failures: RecordFailure[] = [];
    records.forEach((r, index) => {
      const p = r.params as KafkaActionConfig;
      let partition: number | undefined;
      if (p.partition !== undefined && p.partition !== '') {
        partition = Number(p.partition);
        if (!Number.isInteger(partition) || partition < 0) {
          failures.push({ index, message: `kafka: partition ${JSON.stringify(p.partition)} is not a partition number`, retriable: false });
          return;
        }
      }
      const headers = p.headers ? Object.fromEntries(p.headers.map((h) => [h.key, h.value])) : undefined;
      let group = byTopic.get(p.topic);
      if (!group) byTopic.set(p.topic, (group = { indexes: [], appends: [] }));
      group.indexes.push(index);
      group.appends.push({ key: p.key ?? null, value: outputBytes(r.output), ...(headers ? { headers } : {}), ...(partition !== undefined ? { partition } : {}) });
    });
    let lastError: unknown;
    for (const [topic, group] of byTopic) {
      try {
        await this.producers.append(this.log, topic, group.appends);
      } catch (err) {
        lastError = err;
        const retriable = !(err instanceof PlatformError) || err.retriable || err.code === 'LOG_UNAVAILABLE' || err.code === 'SINK_UNAVAILABLE';
        for (const index of group.indexes) failures.push({ index, message: `kafka: append to ${topic} failed: ${(err as Error).message}`, retriable });
      }
    }
    if (failures.length === records.length && lastError !== undefined && failures.every((f) => f.retriable)) {
      throw new PlatformError('SINK_UNAVAILABLE', failures[0]!.message, { retriable: true, cause: lastError });
    }
    if (failures.length > 0) throw new SinkBatchError(failures);
  }

  async close(): Promise<void> {}
}

export const kafkaAction: SinkDefinition<KafkaActionConfig> = {
  type: 'kafka',
  summary: 'write the output to a Kafka topic (the log kiot runs on, or the cluster in client_properties)',
  config,
  maxBatchSize: 500,
  create: (c, deps) => {
    const d = actionDepsOf(deps, 'kafka');
    const producers = d.kafka ?? new KafkaProducers(d.log, d.logger);
    // bootstrap.servers is fixed per action (not a template), so the cluster is chosen once.
    return new KafkaSink(producers, producers.logFor(c.client_properties?.['bootstrap.servers']));
  },
};
