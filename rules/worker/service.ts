/**
 * The rules service: what `kiot up` runs for the `rules` role. It loads rules from the rules
 * directory and the `iot.rules` table, keeps them up to date, and runs a RulesWorker on
 * `iot.ingress`. It also exports an HTTP operation (`GET /kiot/rules`, for `kiot rules list`;
 * the composition root serves it behind the API's SigV4 check) and a Prometheus registry (per-rule counters and cloudwatch_metric data points).
 */
import { Counter, Registry, TOPICS, systemClock, topicSpec, type Clock, type RulesConfig, type Log, type Logger, type StateView } from '../../core/index.js';
import {
  awsSettingsFromConfig,
  type AwsActionsConfig,
  createActionDeps,
  createActionRegistry,
  createLambdaSqlService,
  DeadLetterWriter,
  DEFAULT_RETRY_POLICY,
  KafkaProducers,
  MetricStore,
  type LambdaTarget,
  type LogFactory,
  type RetryPolicy,
  type SinkRegistry,
} from '../../actions/index.js';
import { topicRulePayloadOf } from '../files/index.js';
import { defaultSqlServices, type SqlServices } from '../sql/index.js';
import { RuleSet, type RuleStatus, type SourcedRule } from './rule-set.js';
import { FileRuleSource, TableRuleSource, DEFAULT_POLL_INTERVAL_MS, type TopicRuleRecord } from './sources.js';
import { DEFAULT_MAX_IN_FLIGHT, DEFAULT_RULES_GROUP, RulesWorker } from './worker.js';

/** How long stop() lets actions finish the messages they hold before it aborts them (they are redone). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export interface RulesServiceOptions {
  /** Consumer group of the workers; default `kiot-rules`. */
  readonly groupId?: string;
  /**
   * Join the group and run the rules on `iot.ingress`; default true. False loads and lists the
   * rules without running them (`kiot up --threads`: worker threads run them).
   */
  readonly consume?: boolean;
  readonly maxInFlight?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Rules directory; default `config.rulesDir`; `null` reads no files. */
  readonly rulesDir?: string | null;
  readonly pollIntervalMs?: number;
  /** Read the `iot.rules` table; default true. */
  readonly useTable?: boolean;
  /** Base URL of an AWS Lambda compatible Invoke API; default `config.lambdaEndpoint`. */
  readonly lambdaEndpoint?: string;
  readonly startFrom?: 'earliest' | 'latest';
  readonly maxBatchRecords?: number;
  readonly drainTimeoutMs?: number;
  /** Topics; defaults are kiot's (`iot.ingress`, `iot.dead-letter`, `iot.rules`). */
  readonly ingressTopic?: string;
  readonly deadLetterTopic?: string;
  readonly rulesTopic?: string;
}

export interface RulesServiceDeps {
  readonly log: Log;
  readonly logger: Logger;
  /** The action catalogue; default every kind in actions/index.ts. */
  readonly registry?: SinkRegistry;
  /** SQL services from other parts (get_thing_shadow, get_dynamodb, ...); aws_lambda defaults to the lambda endpoint. */
  readonly sqlServices?: Partial<SqlServices>;
  /** Opens a log for a kafka action's own cluster; default a KafkaLog. */
  readonly kafkaLogFactory?: LogFactory;
  readonly clock?: Clock;
  readonly options?: RulesServiceOptions;
  /** The process's `iot.rules` view (cli/ opens the table once); when absent start() opens one and stop() closes it. */
  readonly rulesTable?: StateView<TopicRuleRecord>;
}

/**
 * Structurally an api `AwsOperation` (rules/ does not import api/), so that `cli/up.ts` serves
 * it with the API's router: signed with SigV4 like every route but `/health` and `/metrics`.
 */
export interface RulesOperation {
  readonly name: string;
  readonly method: 'GET';
  readonly path: string;
  handle(): Promise<RulesListing>;
}

/** A rule from a file as the topic-rule API shows it (read-only there). */
export interface FileTopicRule {
  readonly name: string;
  /** `file:line:column` of its CREATE RULE. */
  readonly origin: string;
  readonly topicPattern: string | undefined;
  readonly payload: ReturnType<typeof topicRulePayloadOf>;
}

/** What `GET /kiot/rules` returns (and `kiot rules list` prints). */
export interface RulesListing {
  readonly rules: readonly RuleStatus[];
  /** File-level problems: files that do not parse, names defined twice. */
  readonly problems: readonly string[];
  readonly worker: { readonly processed: number; readonly inFlight: number };
}

/**
 * One listing of several members of the rules group in one process (`kiot up --threads`): each
 * rule's counters and the workers' numbers summed; the rules, states and problems are the first
 * listing's (every member loads the same files and table).
 */
export function mergeListings(first: RulesListing, others: readonly RulesListing[]): RulesListing {
  const sums = new Map(first.rules.map((r) => [r.name, { ...r.counters }]));
  for (const other of others) {
    for (const r of other.rules) {
      const sum = sums.get(r.name);
      if (sum) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += r.counters[k];
    }
  }
  const rules = first.rules.map((r) => ({ ...r, counters: sums.get(r.name)! }));
  const worker = { processed: first.worker.processed, inFlight: first.worker.inFlight };
  for (const o of others) {
    worker.processed += o.worker.processed;
    worker.inFlight += o.worker.inFlight;
  }
  return { rules, problems: first.problems, worker };
}

export interface RulesService {
  /** Loads the rules, then joins the consumer group. */
  start(): Promise<void>;
  /** Leaves the group after committing what is handled, then closes every action. Safe twice. */
  stop(): Promise<void>;
  list(): RulesListing;
  /** The rules from the rules dir, for the API to list read-only beside its own. */
  fileRules(): FileTopicRule[];
  /** Rescans the rules directory now (the watcher does this on its own). */
  reload(): Promise<void>;
  /** `GET /kiot/rules` (operation `KiotListRules`). */
  readonly operations: readonly RulesOperation[];
  /** Per-rule counters and cloudwatch_metric series, to merge into `/metrics`. */
  readonly metricsRegistry: Registry;
  /** The SQL services rules are compiled with (aws_lambda connected to the lambda endpoint). */
  readonly sqlServices: SqlServices;
}

export function createRulesService(config: RulesConfig, deps: RulesServiceDeps): RulesService {
  const o = deps.options ?? {};
  const logger = deps.logger.child({ module: 'rules' });
  const log = deps.log;
  const registry = deps.registry ?? createActionRegistry();
  const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY, retries: config.actionRetries, initialBackoffMs: config.actionRetryBackoffMs, ...o.retry };
  const lambdaEndpoint = o.lambdaEndpoint ?? config.lambdaEndpoint;
  const metricsRegistry = new Registry();
  const metricStore = new MetricStore(metricsRegistry);
  const kafka = new KafkaProducers(log, logger, deps.kafkaLogFactory);
  const lambda: LambdaTarget | undefined = lambdaEndpoint ? { endpoint: lambdaEndpoint, signingRegion: config.lambdaSigningRegion } : undefined;
  const sqlServices: SqlServices = {
    ...defaultSqlServices(),
    ...(lambda ? createLambdaSqlService(lambda) : {}),
    ...deps.sqlServices,
  };
  const actionDeps = createActionDeps({
    logger,
    clock: deps.clock ?? systemClock,
    log,
    kafka,
    metrics: metricStore,
    aws: awsSettingsFromConfig(config),
    ...(lambda ? { lambda } : {}),
  });
  const deadLetter = new DeadLetterWriter(log, logger, retry, o.deadLetterTopic ?? TOPICS.deadLetter);
  const ruleSet = new RuleSet({ registry, sinkDeps: actionDeps, retry, deadLetter, services: sqlServices, accountId: config.accountId, logger });
  const rulesDir = o.rulesDir === undefined ? config.rulesDir : o.rulesDir;

  let files: FileRuleSource | undefined;
  let table: TableRuleSource | undefined;
  let started = false;
  const refresh = (): void => {
    if (!started) return;
    // Table rules (from the API) win over files of the same name: the cluster-wide definition is the one every worker shares.
    const merged = new Map<string, SourcedRule>(files?.rules() ?? []);
    for (const [name, rule] of table?.rules() ?? []) merged.set(name, rule);
    ruleSet.apply(merged);
  };
  if (rulesDir !== null) files = new FileRuleSource(rulesDir, logger, refresh, o.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
  if (o.useTable !== false) table = new TableRuleSource(log, logger, refresh, o.rulesTopic === undefined ? topicSpec(TOPICS.rules) : { ...topicSpec(TOPICS.rules), name: o.rulesTopic }, deps.rulesTable);

  const worker = new RulesWorker({
    log,
    logger,
    rules: ruleSet,
    deadLetter,
    groupId: o.groupId ?? DEFAULT_RULES_GROUP,
    topic: o.ingressTopic ?? TOPICS.ingress,
    maxInFlight: o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    startFrom: o.startFrom ?? 'earliest',
    ...(o.maxBatchRecords ? { maxBatchRecords: o.maxBatchRecords } : {}),
  });

  const list = (): RulesListing => ({ rules: ruleSet.list(), problems: files?.problems() ?? [], worker: worker.stats() });
  registerRuleMetrics(metricsRegistry, () => ruleSet.list());

  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  return {
    sqlServices,
    metricsRegistry,
    list,
    fileRules: () => ruleSet.fileRules().map((r) => ({ name: r.model.name, origin: r.origin, topicPattern: r.topicFilter, payload: topicRulePayloadOf(r.model) })),
    reload: async () => {
      await files?.scan();
    },
    operations: [{ name: 'KiotListRules', method: 'GET', path: '/kiot/rules', handle: async () => list() }],
    start: () =>
      (starting ??= (async () => {
        const wanted = new Set([o.ingressTopic ?? TOPICS.ingress, TOPICS.egress, o.deadLetterTopic ?? TOPICS.deadLetter]);
        for (const name of wanted) await log.ensureTopic(topicSpec(name));
        await table?.start();
        await files?.start();
        started = true;
        refresh();
        // Rules are loaded before the first message is read, so none is evaluated against an empty set.
        if (o.consume !== false) {
          // Their actions connect meanwhile (not awaited: a target that is down must not hold up
          // the rules that write elsewhere; a batch that comes first waits for its own connection).
          void ruleSet.connect();
          await worker.start();
        }
      })()),
    stop: () =>
      (stopping ??= (async () => {
        files?.stop();
        // After the drain timeout, abort what actions still hold: those messages stay uncommitted and are redone.
        const timer = setTimeout(() => void Promise.all([ruleSet.close(), deadLetter.close()]), o.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
        try {
          await worker.stop();
        } finally {
          clearTimeout(timer);
        }
        await ruleSet.close();
        await deadLetter.close();
        await table?.stop();
        await kafka.close();
      })()),
  };
}

function registerRuleMetrics(registry: Registry, rules: () => RuleStatus[]): void {
  const fields = [
    ['matched', 'kiot_rule_matched_total', 'Messages a rule fired on (this process).'],
    ['actionsOk', 'kiot_rule_actions_ok_total', 'Action records that reached their target.'],
    ['actionsFailed', 'kiot_rule_actions_failed_total', 'Action records that failed after retries.'],
    ['errors', 'kiot_rule_errors_total', 'Messages for which the rule SQL or a template failed.'],
    ['errorActions', 'kiot_rule_error_actions_total', 'Error messages written by error actions.'],
    ['deadLetters', 'kiot_rule_dead_letters_total', 'Error messages written to the dead-letter topic.'],
  ] as const;
  for (const [field, name, help] of fields) {
    new Counter({
      name,
      help,
      labelNames: ['rule'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of rules()) this.inc({ rule: r.name }, r.counters[field]);
      },
    });
  }
}
