/**
 * `kafka`: writes the rule's output to a Kafka topic (AWS IoT, apache-kafka-rule-action).
 * Parameters: `topic`, `key`, `partition`, `headers` ([{key, value}]) — all templates — and
 * `client_properties` (`bootstrap.servers` picks the cluster; without it the record goes to
 * the log kiot runs on, which on the embedded default is the embedded log). `destination_arn`
 * is accepted and unused (kiot reaches the cluster directly, not through a VPC destination).
 */
import { z } from 'zod';
import type { SinkDefinition } from '../../core/index.js';
import { LOG_APPEND_MAX_BATCH, LogAppendSink, type LogAppendSinkOptions } from '../log-append/log-append-sink.js';
import { outputBytes, type ActionDeps } from '../runtime/deps.js';
import { intOrTemplate, keyValueList, paramsSchema } from '../runtime/params.js';

const config = paramsSchema({
  topic: z.string().min(1),
  key: z.string().optional(),
  partition: intOrTemplate.optional(),
  headers: keyValueList.optional(),
  client_properties: z.record(z.string(), z.string()).optional(),
  destination_arn: z.string().optional(),
});

export type KafkaActionConfig = ReturnType<typeof config.parse>;

export const createKafkaDefinition = (options: LogAppendSinkOptions = {}): SinkDefinition<KafkaActionConfig, Pick<ActionDeps, 'kafka'>> => ({
  type: 'kafka',
  awsKey: 'kafka',
  summary: 'write the output to a Kafka topic (the log kiot runs on, or the cluster in client_properties)',
  config,
  resourceParams: ['topic'],
  maxBatchSize: LOG_APPEND_MAX_BATCH,
  create: (c, { kafka }) => {
    // bootstrap.servers is fixed per action (not a template), so the cluster is chosen once.
    const log = kafka.logFor(c.client_properties?.['bootstrap.servers']);
    return new LogAppendSink<KafkaActionConfig>({
      ...options,
      name: 'kafka',
      encode: (r) => {
        const p = r.params;
        let partition: number | undefined;
        if (p.partition !== undefined && p.partition !== '') {
          partition = Number(p.partition);
          if (!Number.isInteger(partition) || partition < 0) throw new Error(`partition ${JSON.stringify(p.partition)} is not a partition number`);
        }
        const headers = p.headers ? Object.fromEntries(p.headers.map((h) => [h.key, h.value])) : undefined;
        return { topic: p.topic, record: { key: p.key ?? null, value: outputBytes(r.output), ...(headers ? { headers } : {}), ...(partition !== undefined ? { partition } : {}) } };
      },
      append: (topic, records) => kafka.append(log, topic, records),
    });
  },
});

export const kafkaAction = createKafkaDefinition();
