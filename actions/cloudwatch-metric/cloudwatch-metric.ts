/**
 * `cloudwatch_metric`: turns rule output into a metric data point (AWS IoT,
 * cloudwatch-metrics-rule-action), exported on kiot's Prometheus `/metrics` through
 * {@link MetricStore}. Parameters (all templates): `metric_namespace`, `metric_name`,
 * `metric_value` (must render to a number), `metric_unit` (a CloudWatch unit),
 * `metric_timestamp` (optional, Unix seconds as AWS takes it); `role_arn` is accepted, unused.
 */
import { z } from 'zod';
import { SinkBatchError, type ActionRecord, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { actionDepsOf } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';
import { MetricStore } from './metric-store.js';

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

class MetricSink implements Sink {
  constructor(
    private readonly store: MetricStore,
    private readonly now: () => number,
  ) {}
  async connect(): Promise<void> {}
  async writeBatch(records: readonly ActionRecord[]): Promise<void> {
    const failures: RecordFailure[] = [];
    records.forEach((r, index) => {
      const p = r.params as CloudwatchMetricConfig;
      const value = p.metric_value.trim() === '' ? Number.NaN : Number(p.metric_value);
      const ts = p.metric_timestamp === undefined || p.metric_timestamp === '' ? this.now() : Number(p.metric_timestamp) * 1000;
      if (!Number.isFinite(value)) failures.push({ index, message: `cloudwatch_metric: metric_value ${JSON.stringify(p.metric_value)} is not a number`, retriable: false });
      else if (!(CLOUDWATCH_UNITS as readonly string[]).includes(p.metric_unit)) failures.push({ index, message: `cloudwatch_metric: metric_unit ${JSON.stringify(p.metric_unit)} is not a CloudWatch unit`, retriable: false });
      else if (!Number.isFinite(ts)) failures.push({ index, message: `cloudwatch_metric: metric_timestamp ${JSON.stringify(p.metric_timestamp)} is not Unix seconds`, retriable: false });
      else this.store.put(p.metric_namespace, p.metric_name, p.metric_unit, value, ts);
    });
    if (failures.length > 0) throw new SinkBatchError(failures);
  }
  async close(): Promise<void> {}
}

export const cloudwatchMetricAction: SinkDefinition<CloudwatchMetricConfig> = {
  type: 'cloudwatch_metric',
  summary: 'put a metric data point, exported on kiot /metrics',
  config,
  maxBatchSize: 1000,
  create: (_c, deps) => {
    const d = actionDepsOf(deps, 'cloudwatch_metric');
    return new MetricSink(d.metrics ?? new MetricStore(), () => d.clock.now());
  },
};
