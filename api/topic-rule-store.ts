/**
 * Topic rules created through the HTTP API, stored on the compacted `iot.rules` topic so that
 * every rules worker runs them.
 *
 * Record layout: key = rule name; value = UTF-8 JSON of a {@link StoredTopicRule}: the
 * `RuleModel` that `rules/files` makes of the same TopicRulePayload in a `<name>.rule.json`
 * file (so the rules worker reads one model whatever the source), plus the payload as the
 * caller sent it (GetTopicRule returns it unchanged), the creation time and the FROM filter.
 * A tombstone deletes the rule.
 */
import { CORE_TOPICS, PlatformError, TOPICS, type Log, type Table } from '../core/index.js';
import { checkRuleText, parseJsonRuleFile, type RuleModel } from '../rules/files/index.js';
import { compileSql } from '../rules/sql/index.js';

/** AWS's TopicRulePayload, as the SDKs send it (action bodies are kept as given). */
export interface TopicRulePayload {
  readonly sql: string;
  readonly description?: string;
  readonly actions: readonly Record<string, unknown>[];
  readonly errorAction?: Record<string, unknown>;
  readonly ruleDisabled?: boolean;
  readonly awsIotSqlVersion?: string;
}

export interface StoredTopicRule extends RuleModel {
  /** Rules from the API say `api`; rule files are not stored here. */
  readonly origin: 'api';
  /** ms since the epoch. */
  readonly createdAt: number;
  /** The FROM topic filter (`topicPattern` in ListTopicRules); undefined for Basic Ingest only. */
  readonly topicPattern: string | undefined;
  readonly topicRulePayload: TopicRulePayload;
}

/** AWS IoT rule names: `^[a-zA-Z0-9_]+$`, 1–128 characters. */
const RULE_NAME = /^[a-zA-Z0-9_]{1,128}$/;

const invalid = (message: string, field: string): PlatformError => new PlatformError('REGISTRY_INVALID', message, { details: { field } });

export function validateRuleName(name: string): string {
  if (!RULE_NAME.test(name)) throw invalid(`1 validation error detected: Value '${name}' at 'ruleName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$ and have length between 1 and 128`, 'ruleName');
  return name;
}

/**
 * Validates a TopicRulePayload and builds the stored rule: the shape (as `*.rule.json` files
 * are checked), the SQL (compiled; errors are RULES_SQL_SYNTAX / RULES_SQL_SEMANTIC with the
 * position inside the SQL), and the actions (known kinds, their parameters, templates).
 */
export function buildStoredRule(name: string, payload: unknown, createdAt: number): StoredTopicRule {
  validateRuleName(name);
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw invalid('topicRulePayload: expected a JSON object', 'topicRulePayload');
  const text = JSON.stringify(payload);
  const file = `${name}.rule.json`;
  let model: RuleModel;
  try {
    model = parseJsonRuleFile(text, file);
  } catch (err) {
    if (err instanceof PlatformError) throw invalid(`topicRulePayload: ${String(err.details['reason'] ?? err.message)}`, 'topicRulePayload');
    throw err;
  }
  const compiled = compileSql(model.sql, { source: 'sql', sqlVersion: model.sqlVersion, ruleName: name });
  if (model.actions.length > 0 || model.errorAction) {
    // The SQL compiled above, so what remains are the actions' problems.
    const problems = checkRuleText(text, file).problems;
    if (problems.length > 0) throw invalid(`topicRulePayload: ${problems.map((p) => p.message).join('; ')}`, 'topicRulePayload.actions');
  }
  return {
    ...model,
    name,
    source: { file: `api:${name}`, line: 1, column: 1 },
    sqlSource: { file: `api:${name}`, line: 1, column: 1 },
    origin: 'api',
    createdAt,
    topicPattern: compiled.topicFilter,
    topicRulePayload: payload as TopicRulePayload,
  };
}

const notFound = (name: string): PlatformError => new PlatformError('REGISTRY_NOT_FOUND', `Rule ${name} does not exist`, { details: { resourceId: name } });

export class TopicRuleStore {
  readonly #table: Table<StoredTopicRule>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(table: Table<StoredTopicRule>) {
    this.#table = table;
  }

  static async open(log: Log): Promise<TopicRuleStore> {
    await log.ensureTopic(CORE_TOPICS.find((t) => t.name === TOPICS.rules) ?? { name: TOPICS.rules, partitions: 1, compacted: true });
    const table = await log.openTable<StoredTopicRule>(TOPICS.rules, { decode: (value) => JSON.parse(value.toString('utf8')) as StoredTopicRule });
    return new TopicRuleStore(table);
  }

  get(name: string): StoredTopicRule | undefined {
    return this.#table.get(name);
  }

  list(): StoredTopicRule[] {
    return [...this.#table.entries()].map(([, rule]) => rule);
  }

  /** CreateTopicRule. @throws REGISTRY_ALREADY_EXISTS, REGISTRY_INVALID, RULES_SQL_* */
  create(name: string, payload: unknown, now: number): Promise<StoredTopicRule> {
    return this.#run(async () => {
      const rule = buildStoredRule(name, payload, now);
      if (this.#table.has(name)) throw new PlatformError('REGISTRY_ALREADY_EXISTS', `Rule ${name} already exists`, { details: { resourceId: name } });
      await this.#table.set(name, JSON.stringify(rule));
      return rule;
    });
  }

  /** ReplaceTopicRule: a new payload, the same name and creation time. */
  replace(name: string, payload: unknown): Promise<StoredTopicRule> {
    return this.#run(async () => {
      const current = this.#table.get(name);
      if (!current) throw notFound(name);
      const rule = buildStoredRule(name, payload, current.createdAt);
      await this.#table.set(name, JSON.stringify(rule));
      return rule;
    });
  }

  /** EnableTopicRule / DisableTopicRule. */
  setEnabled(name: string, enabled: boolean): Promise<StoredTopicRule> {
    return this.#run(async () => {
      const current = this.#table.get(name);
      if (!current) throw notFound(name);
      const rule: StoredTopicRule = { ...current, enabled, topicRulePayload: { ...current.topicRulePayload, ruleDisabled: !enabled } };
      await this.#table.set(name, JSON.stringify(rule));
      return rule;
    });
  }

  delete(name: string): Promise<void> {
    return this.#run(async () => {
      if (!this.#table.has(name)) throw notFound(name);
      await this.#table.delete(name);
    });
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
    await this.#table.close();
  }

  #run<R>(fn: () => Promise<R>): Promise<R> {
    const next = this.#queue.then(fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
