/**
 * Topic rules created through the HTTP API, stored on the compacted `iot.rules` topic so that
 * every rules worker runs them: a `StateStore` over the topic (record layout at
 * `topicRuleCodec`, rules/worker/sources.ts, which the workers read with the same codec), and
 * every change a command run on the owner of the topic's one partition, one at a time per rule.
 * So of two concurrent CreateTopicRule calls for one name, exactly one succeeds, whichever API
 * process each reaches.
 *
 * The API shows and changes the rules it wrote (`origin: 'api'`). A rule another tool wrote to
 * the topic runs, and holds its name, but is not the API's to list or change.
 */
import { PlatformError, StateStore, TOPICS, topicSpec, type CommandDefinition, type Log, type Logger, type StateView } from '../core/index.js';
import { checkRuleText, parseJsonRuleFile, type RuleModel } from '../rules/files/index.js';
import { compileSql } from '../rules/sql/index.js';
import { topicRuleCodec, topicRulePayloadSchema, type TopicRulePayload, type TopicRuleRecord } from '../rules/worker/index.js';

export type { TopicRulePayload } from '../rules/worker/index.js';

/** A rule the API wrote: the record with the API's fields present. */
export interface StoredTopicRule extends TopicRuleRecord {
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
  // parseJsonRuleFile reads a field of the wrong type as absent; stored, it would fail the record's schema.
  const checked = topicRulePayloadSchema.safeParse(payload);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const path = issue ? ['topicRulePayload', ...issue.path].join('.') : 'topicRulePayload';
    throw invalid(`${path}: ${issue?.message ?? 'does not match TopicRulePayload'}`, path);
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
    topicRulePayload: checked.data,
  };
}

const notFound = (name: string): PlatformError => new PlatformError('REGISTRY_NOT_FOUND', `Rule ${name} does not exist`, { details: { resourceId: name } });

const isApiRule = (record: TopicRuleRecord | undefined): record is StoredTopicRule => record?.origin === 'api';

/** The API's rule of that name, or REGISTRY_NOT_FOUND. */
function apiRule(state: StateView<TopicRuleRecord>, name: string): StoredTopicRule {
  const current = state.get(name);
  if (!isApiRule(current)) throw notFound(name);
  return current;
}

/** The names the topic rule commands are executed by. */
export const TOPIC_RULE_COMMANDS = {
  create: 'topicRule.create',
  replace: 'topicRule.replace',
  setEnabled: 'topicRule.setEnabled',
  delete: 'topicRule.delete',
} as const;

/**
 * The commands on `iot.rules`. Each gets a rule already built and checked by the caller
 * ({@link buildStoredRule}: compiling SQL is the caller's cost, not the owner's) and only does
 * what needs the current state: whether the name is taken, and the creation time.
 */
export const topicRuleCommands: readonly CommandDefinition<TopicRuleRecord, any, any>[] = [
  {
    name: TOPIC_RULE_COMMANDS.create,
    keys: (rule: StoredTopicRule) => [rule.name],
    run(state, rule: StoredTopicRule) {
      if (state.has(rule.name)) throw new PlatformError('REGISTRY_ALREADY_EXISTS', `Rule ${rule.name} already exists`, { details: { resourceId: rule.name } });
      return { writes: [{ key: rule.name, value: rule, ifRevision: 0 }], result: rule };
    },
  } satisfies CommandDefinition<TopicRuleRecord, StoredTopicRule, StoredTopicRule>,
  {
    name: TOPIC_RULE_COMMANDS.replace,
    keys: (rule: StoredTopicRule) => [rule.name],
    run(state, rule: StoredTopicRule) {
      // AWS IoT: ReplaceTopicRule keeps the rule's creation time.
      const next: StoredTopicRule = { ...rule, createdAt: apiRule(state, rule.name).createdAt };
      return { writes: [{ key: rule.name, value: next, ifRevision: state.revision(rule.name) }], result: next };
    },
  } satisfies CommandDefinition<TopicRuleRecord, StoredTopicRule, StoredTopicRule>,
  {
    name: TOPIC_RULE_COMMANDS.setEnabled,
    keys: (input: { name: string; enabled: boolean }) => [input.name],
    run(state, { name, enabled }: { name: string; enabled: boolean }) {
      const current = apiRule(state, name);
      const next: StoredTopicRule = { ...current, enabled, topicRulePayload: { ...current.topicRulePayload, ruleDisabled: !enabled } };
      return { writes: [{ key: name, value: next, ifRevision: state.revision(name) }], result: next };
    },
  } satisfies CommandDefinition<TopicRuleRecord, { name: string; enabled: boolean }, StoredTopicRule>,
  {
    name: TOPIC_RULE_COMMANDS.delete,
    keys: (input: { name: string }) => [input.name],
    run(state, { name }: { name: string }) {
      apiRule(state, name);
      return { writes: [{ key: name, value: null, ifRevision: state.revision(name) }], result: undefined };
    },
  } satisfies CommandDefinition<TopicRuleRecord, { name: string }, undefined>,
];

export interface TopicRuleStoreDeps {
  readonly log: Log;
  readonly logger: Logger;
}

export class TopicRuleStore {
  readonly #store: StateStore<TopicRuleRecord>;

  private constructor(store: StateStore<TopicRuleRecord>) {
    this.#store = store;
  }

  /** Ensures `iot.rules` and opens the store with its commands; resolves once caught up. */
  static async open(deps: TopicRuleStoreDeps): Promise<TopicRuleStore> {
    return new TopicRuleStore(await StateStore.open({ log: deps.log, logger: deps.logger, topic: topicSpec(TOPICS.rules), codec: topicRuleCodec, commands: topicRuleCommands }));
  }

  /** Every record on `iot.rules`, read-only (the rules service's table source in the same process). */
  get view(): StateView<TopicRuleRecord> {
    return this.#store;
  }

  get(name: string): StoredTopicRule | undefined {
    const record = this.#store.get(name);
    return isApiRule(record) ? record : undefined;
  }

  list(): StoredTopicRule[] {
    return [...this.#store.entries()].map(([, rule]) => rule).filter(isApiRule);
  }

  /**
   * CreateTopicRule; resolves once this process's view has the rule.
   * @throws PlatformError REGISTRY_ALREADY_EXISTS (the name is taken, also by a create racing
   *   this one), REGISTRY_INVALID, RULES_SQL_*; STATE_UNAVAILABLE (retriable) when the owner of
   *   `iot.rules` did not answer.
   */
  create(name: string, payload: unknown, now: number): Promise<StoredTopicRule> {
    return this.#store.execute(TOPIC_RULE_COMMANDS.create, buildStoredRule(name, payload, now));
  }

  /**
   * ReplaceTopicRule: a new payload, the same name and creation time.
   * @throws PlatformError REGISTRY_NOT_FOUND, REGISTRY_INVALID, RULES_SQL_*, STATE_UNAVAILABLE
   */
  replace(name: string, payload: unknown): Promise<StoredTopicRule> {
    // The owner puts the stored creation time in place of this 0.
    return this.#store.execute(TOPIC_RULE_COMMANDS.replace, buildStoredRule(name, payload, 0));
  }

  /** EnableTopicRule / DisableTopicRule. @throws PlatformError REGISTRY_NOT_FOUND, STATE_UNAVAILABLE */
  setEnabled(name: string, enabled: boolean): Promise<StoredTopicRule> {
    return this.#store.execute(TOPIC_RULE_COMMANDS.setEnabled, { name, enabled });
  }

  /** DeleteTopicRule. @throws PlatformError REGISTRY_NOT_FOUND, STATE_UNAVAILABLE */
  async delete(name: string): Promise<void> {
    await this.#store.execute(TOPIC_RULE_COMMANDS.delete, { name });
  }

  /** Lets commands in flight finish, then stops following the topic. Safe twice. */
  close(): Promise<void> {
    return this.#store.close();
  }
}
