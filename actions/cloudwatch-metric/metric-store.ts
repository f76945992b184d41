/**
 * Where `cloudwatch_metric` data points go: kiot has no CloudWatch, so each point updates
 * Prometheus series on kiot's `/metrics`, labelled with the CloudWatch namespace, metric name
 * and unit. Per series: the last value, the running sum and the number of points, so both a
 * "latest reading" and a rate or average can be graphed.
 */
import { Counter, Gauge, Registry } from '../../core/index.js';

const LABELS = ['namespace', 'metric', 'unit'] as const;

export class MetricStore {
  readonly registry: Registry;
  readonly #last: Gauge<(typeof LABELS)[number]>;
  readonly #sum: Gauge<(typeof LABELS)[number]>;
  readonly #count: Counter<(typeof LABELS)[number]>;
  readonly #timestamp: Gauge<(typeof LABELS)[number]>;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.#last = new Gauge({ name: 'kiot_cloudwatch_metric_value', help: 'Last value a cloudwatch_metric rule action put, by CloudWatch namespace, metric name and unit.', labelNames: LABELS, registers: [registry] });
    this.#sum = new Gauge({ name: 'kiot_cloudwatch_metric_sum', help: 'Sum of the values cloudwatch_metric rule actions put.', labelNames: LABELS, registers: [registry] });
    this.#count = new Counter({ name: 'kiot_cloudwatch_metric_points_total', help: 'Data points cloudwatch_metric rule actions put.', labelNames: LABELS, registers: [registry] });
    this.#timestamp = new Gauge({ name: 'kiot_cloudwatch_metric_timestamp_seconds', help: 'Timestamp of the last data point (metric_timestamp, else when it was put).', labelNames: LABELS, registers: [registry] });
  }

  /** Records one data point. */
  put(namespace: string, metric: string, unit: string, value: number, timestampMs: number): void {
    const labels = { namespace, metric, unit };
    this.#last.set(labels, value);
    this.#sum.inc(labels, value);
    this.#count.inc(labels, 1);
    this.#timestamp.set(labels, timestampMs / 1000);
  }

  /** The last value of a series, for tests and `kiot rules list`. */
  async last(namespace: string, metric: string, unit: string): Promise<number | undefined> {
    const data = await this.#last.get();
    return data.values.find((v) => v.labels.namespace === namespace && v.labels.metric === metric && v.labels.unit === unit)?.value;
  }
}
