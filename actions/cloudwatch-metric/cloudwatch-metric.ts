/**
 * `cloudwatch_metric`: turns rule output into a metric data point (AWS IoT,
 * cloudwatch-metrics-rule-action), exported on kiot's Prometheus `/metrics` through
 * {@link MetricStore}. Parameters (all templates): `metric_namespace`, `metric_name`,
 * `metric_value` (must render to a number), `metric_unit` (a CloudWatch unit),
 * `metric_timestamp` (optional, Unix seconds as AWS takes it); `role_arn` is accepted, unused.
 */
import { z } from 'zod';
import { endBatch, type ActionRecord, type Clock, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import type { ActionDeps } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';
import type { MetricStore } from './metric-store.js';

/** CloudWatch's StandardUnit values (CloudWatch API reference, MetricDatum). */
export const CLOUDWATCH_UNITS = [
  'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes', 'Bits', 'Kilobits',
  'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second', 'Kilobytes/Second', 'Megabytes/Second',
  'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second', 'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second',
  'Terabits/Second', 'Count/Second', 'None',
] as const;

const isTemplate = (v: string): boolean => v.includes('${');
const unit = z.string().refine((v) => isTemplate(v) || (CLOUDWATCH_UNITS as readonly string[]).includes(v), { message: `expected a CloudWatch unit (${CLOUDWATCH_UNITS.join(', ')})` });
const numeric = z.string().refine((v) => isTemplate(v) || Number.isFinite(Number(v)), { message: 'expected a number or a substitution template' });

const config = paramsSchema({
  metric_namespace: z.string().min(1),
  metric_name: z.string().min(1),
  metric_value: numeric,
  metric_unit: unit,
  metric_timestamp: z.string().optional(),
  role_arn: z.string().optional(),
});

export type CloudwatchMetricConfig = ReturnType<typeof config.parse>;

class MetricSink implements Sink<CloudwatchMetricConfig> {
  constructor(
    private readonly store: MetricStore,
    private readonly clock: Clock,
  ) {}
  async connect(): Promise<void> {}
  async writeBatch(records: readonly ActionRecord<CloudwatchMetricConfig>[]): Promise<void> {
    const failures: RecordFailure[] = [];
    records.forEach((r, index) => {
      const p = r.params;
      const value = p.metric_value.trim() === '' ? Number.NaN : Number(p.metric_value);
      const ts = p.metric_timestamp === undefined || p.metric_timestamp === '' ? this.clock.now() : Number(p.metric_timestamp) * 1000;
      if (!Number.isFinite(value)) failures.push({ index, message: `cloudwatch_metric: metric_value ${JSON.stringify(p.metric_value)} is not a number`, retriable: false });
      else if (!(CLOUDWATCH_UNITS as readonly string[]).includes(p.metric_unit)) failures.push({ index, message: `cloudwatch_metric: metric_unit ${JSON.stringify(p.metric_unit)} is not a CloudWatch unit`, retriable: false });
      else if (!Number.isFinite(ts)) failures.push({ index, message: `cloudwatch_metric: metric_timestamp ${JSON.stringify(p.metric_timestamp)} is not Unix seconds`, retriable: false });
      else this.store.put(p.metric_namespace, p.metric_name, p.metric_unit, value, ts);
    });
    endBatch('cloudwatch_metric', failures, records.length);
  }
  async close(): Promise<void> {}
}

export const cloudwatchMetricAction: SinkDefinition<CloudwatchMetricConfig, Pick<ActionDeps, 'metrics' | 'clock'>> = {
  type: 'cloudwatch_metric',
  awsKey: 'cloudwatchMetric',
  summary: 'put a metric data point, exported on kiot /metrics',
  config,
  resourceParams: ['metric_name'],
  maxBatchSize: 1000,
  create: (_c, deps) => new MetricSink(deps.metrics, deps.clock),
};
