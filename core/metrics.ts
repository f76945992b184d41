import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Log } from './log/log.js';

/**
 * The metrics port: prom-client is imported here and nowhere else. A service makes its counters
 * and gauges in a registry of its own (`new Registry()`), which `kiot up` adds to `/metrics`
 * with `Metrics.include`.
 */
export { Counter, Gauge, Registry };

/** A registry's metrics as data, as they cross from a worker thread (`Registry.getMetricsAsJSON`). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * Prometheus metrics for `/metrics`. Log counters are read from `log.stats()` at scrape time,
 * so the log's hot path only bumps plain numbers.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Adds a service's own registry (rule counters, cloudwatch_metric points) to `/metrics`. */
  include(registry: Registry): void;
  /**
   * Adds metrics read at each scrape from elsewhere (a worker thread's rules registry); series
   * with the same name and labels as this process's are summed with them.
   */
  includeRemote(read: () => Promise<MetricsJson[]>): void;
  /** Prometheus text exposition of every registry. */
  render(): Promise<string>;
}

export function createMetrics(log: Log): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kiot_process_' });
  let lastAppended = 0;
  let lastAppendedBytes = 0;
  let lastConsumed = 0;
  new Counter({
    name: 'kiot_log_appended_records_total',
    help: 'Records appended to the log by this process.',
    labelNames: ['log'],
    registers: [registry],
    collect() {
      const now = log.stats().appendedRecords;
      this.inc({ log: log.kind }, now - lastAppended);
      lastAppended = now;
    },
  });
  new Counter({
    name: 'kiot_log_appended_bytes_total',
    help: 'Key and value bytes appended to the log by this process.',
    labelNames: ['log'],
    registers: [registry],
    collect() {
      const now = log.stats().appendedBytes;
      this.inc({ log: log.kind }, now - lastAppendedBytes);
      lastAppendedBytes = now;
    },
  });
  new Counter({
    name: 'kiot_log_consumed_records_total',
    help: 'Records handed to consumers in this process.',
    labelNames: ['log'],
    registers: [registry],
    collect() {
      const now = log.stats().consumedRecords;
      this.inc({ log: log.kind }, now - lastConsumed);
      lastConsumed = now;
    },
  });
  new Gauge({
    name: 'kiot_log_consumer_lag',
    help: 'Records between the end of a partition and the next record a consumer group member of this process will read.',
    labelNames: ['group', 'topic', 'partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const l of log.stats().lag) this.set({ group: l.groupId, topic: l.topic, partition: String(l.partition) }, l.lag);
    },
  });
  const registries: Registry[] = [registry];
  const remotes: (() => Promise<MetricsJson[]>)[] = [];
  return {
    registry,
    include: (other) => {
      registries.push(other);
    },
    includeRemote: (read) => {
      remotes.push(read);
    },
    render: async () => {
      if (remotes.length === 0) return Registry.merge(registries).metrics();
      const local = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
      const remote = (await Promise.all(remotes.map((read) => read()))).flat();
      return AggregatorRegistry.aggregate([...local, ...remote] as MetricsJson[]).metrics();
    },
  };
}
