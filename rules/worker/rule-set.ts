/**
 * The rules a worker runs, from every source (rule files, the `iot.rules` table), with their
 * state and counters. Finding the rules for a message goes through a topic-filter index, so its
 * cost depends on the rules that can match, not on how many are loaded.
 */
import { RecentTopics, type Logger } from '../../core/index.js';
import { newCounters, type RuleCounters } from '../../actions/index.js';
import type { RuleModel } from '../files/index.js';
import { RULE_TOPIC_MATCHING, splitBasicIngest, TopicFilterIndex } from '../sql/index.js';
import { compileRule, type CompiledRule, type CompileRuleContext } from './compiled-rule.js';

/** Where a rule comes from: a rule file, or the `iot.rules` table (the API). */
export type RuleOrigin = { readonly kind: 'file'; readonly file: string; readonly line: number; readonly column: number } | { readonly kind: 'table' };

export interface SourcedRule {
  readonly model: RuleModel;
  readonly origin: RuleOrigin;
  /** A problem found before compiling (e.g. by `kiot rules check`); the rule is then failed. */
  readonly problem?: string;
}

export type RuleState = 'enabled' | 'disabled' | 'failed';

/** One rule as `kiot rules list` shows it. */
export interface RuleStatus {
  readonly name: string;
  readonly state: RuleState;
  readonly origin: string;
  readonly topicFilter: string | undefined;
  readonly sql: string;
  readonly actions: readonly string[];
  readonly errorAction: string | undefined;
  readonly problem?: string;
  readonly counters: RuleCounters;
}

interface Entry {
  readonly name: string;
  readonly fingerprint: string;
  readonly origin: RuleOrigin;
  readonly model: RuleModel;
  state: RuleState;
  problem?: string;
  rule?: CompiledRule;
  /** Counters survive a change of the rule's definition (they are per name, per process). */
  readonly counters: RuleCounters;
}

/** What makes two definitions of a rule the same (positions in a file do not). */
const fingerprint = (s: SourcedRule): string =>
  JSON.stringify([
    s.model.sql,
    s.model.sqlVersion,
    s.model.enabled,
    s.model.actions.map((a) => [a.type, a.params]),
    s.model.errorAction ? [s.model.errorAction.type, s.model.errorAction.params] : null,
    s.problem ?? null,
    s.model.sqlSource.line,
    s.model.sqlSource.column,
  ]);

export const originText = (o: RuleOrigin): string => (o.kind === 'file' ? `${o.file}:${o.line}:${o.column}` : 'iot.rules');

const NO_RULES: readonly CompiledRule[] = Object.freeze([]);

export class RuleSet {
  readonly #entries = new Map<string, Entry>();
  #index = new TopicFilterIndex<CompiledRule>(RULE_TOPIC_MATCHING);
  /** The rules of topics seen lately (the index is walked once per topic); emptied whenever the rules change. */
  readonly #matched = new RecentTopics<readonly CompiledRule[]>();
  /** Rules running now (enabled and compiled): none, and no message triggers anything. */
  #running = 0;
  readonly #logger: Logger;
  readonly #retiring = new Set<Promise<void>>();
  /** Set by connect(): rules connect their actions when they start, not at their first message. */
  #connectOnStart = false;

  constructor(private readonly context: CompileRuleContext) {
    this.#logger = context.logger.child({ module: 'rules.set' });
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Makes `rules` the running set: unchanged rules keep running untouched; changed, new and
   * removed ones are recompiled, started or retired (a retired rule's actions finish the
   * messages they hold first). A rule that fails to compile is kept as `failed` and logged.
   */
  apply(rules: ReadonlyMap<string, SourcedRule>): void {
    let changed = false;
    for (const [name, entry] of this.#entries) {
      if (!rules.has(name)) {
        this.#retire(entry);
        this.#entries.delete(name);
        changed = true;
      }
    }
    for (const [name, sourced] of rules) {
      const fp = fingerprint(sourced);
      const old = this.#entries.get(name);
      if (old && old.fingerprint === fp) continue;
      if (old) this.#retire(old);
      this.#entries.set(name, this.#build(name, sourced, fp, old?.counters ?? newCounters()));
      changed = true;
    }
    if (changed) this.#reindex();
  }

  #build(name: string, sourced: SourcedRule, fp: string, counters: RuleCounters): Entry {
    const entry: Entry = { name, fingerprint: fp, origin: sourced.origin, model: sourced.model, state: 'disabled', counters };
    if (sourced.problem) {
      entry.state = 'failed';
      entry.problem = sourced.problem;
    } else if (sourced.model.enabled) {
      try {
        // The runtime counts into the entry's counters, which outlive one compilation.
        entry.rule = compileRule(sourced.model, this.context, counters);
        entry.state = 'enabled';
        if (this.#connectOnStart) void entry.rule.runtime.connect();
      } catch (err) {
        entry.state = 'failed';
        entry.problem = err instanceof Error ? err.message : String(err);
      }
    }
    if (entry.state === 'failed') this.#logger.error({ rule: name, origin: originText(sourced.origin), problem: entry.problem }, 'rule not started');
    return entry;
  }

  #retire(entry: Entry): void {
    const rule = entry.rule;
    if (!rule) return;
    const done = rule.retire().finally(() => this.#retiring.delete(done));
    this.#retiring.add(done);
  }

  #reindex(): void {
    // Rules read `#` as the AWS IoT guide does, not as MQTT subscriptions do (rules/sql/README.md).
    const index = new TopicFilterIndex<CompiledRule>(RULE_TOPIC_MATCHING);
    let running = 0;
    for (const e of this.#entries.values()) {
      if (!e.rule) continue;
      running++;
      if (e.rule.sql.topicFilter !== undefined) index.add(e.rule.sql.topicFilter, e.rule);
    }
    this.#index = index;
    this.#running = running;
    this.#matched.clear();
  }

  /** Whether no rule runs: then no message triggers one, and its topic need not be read. */
  get idle(): boolean {
    return this.#running === 0;
  }

  /** The enabled rules a message on `topic` triggers, in definition order. */
  match(topic: string): readonly CompiledRule[] {
    if (this.#running === 0) return NO_RULES;
    return this.#matched.get(topic, this.#lookup);
  }

  readonly #lookup = (topic: string): readonly CompiledRule[] => {
    if (topic.charCodeAt(0) === 36 /* $ */) {
      // Basic Ingest: `$aws/rules/<name>/...` goes to that rule only (AWS IoT, iot-basic-ingest).
      const ingest = splitBasicIngest(topic);
      if (ingest) {
        const rule = this.#entries.get(ingest.ruleName)?.rule;
        return rule ? [rule] : NO_RULES;
      }
    }
    const rules = this.#index.match(topic);
    return rules.length === 0 ? NO_RULES : rules;
  };

  /**
   * From now on, every rule connects its actions as it starts (a rule file saved, a rule created
   * through the API) rather than at the first message it fires on; the rules running now connect
   * at once. Resolves once each of those has connected or failed to (a failure is logged, and the
   * action's first batch tries again: ActionRunner.connect). A worker calls this before it reads,
   * so that the first messages do not wait for connections; a process that only lists rules
   * (`kiot up --threads`' main thread) does not, and opens none.
   */
  async connect(): Promise<void> {
    this.#connectOnStart = true;
    await Promise.all([...this.#entries.values()].map((e) => e.rule?.runtime.connect()));
  }

  counters(name: string): RuleCounters | undefined {
    return this.#entries.get(name)?.counters;
  }

  list(): RuleStatus[] {
    return [...this.#entries.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((e) => ({
        name: e.name,
        state: e.state,
        origin: originText(e.origin),
        topicFilter: e.rule?.sql.topicFilter,
        sql: e.model.sql,
        actions: e.model.actions.map((a) => a.type),
        errorAction: e.model.errorAction?.type,
        ...(e.problem ? { problem: e.problem } : {}),
        counters: { ...e.counters },
      }));
  }

  /** The rules that come from files, with where each is written (the API lists them read-only). */
  fileRules(): { model: RuleModel; origin: string; topicFilter: string | undefined }[] {
    return [...this.#entries.values()]
      .filter((e) => e.origin.kind === 'file')
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((e) => ({ model: e.model, origin: originText(e.origin), topicFilter: e.rule?.sql.topicFilter }));
  }

  /** Closes every rule's actions now (records in flight end as ABORTED). */
  async close(): Promise<void> {
    const rules = [...this.#entries.values()].flatMap((e) => (e.rule ? [e.rule] : []));
    this.#entries.clear();
    this.#index = new TopicFilterIndex(RULE_TOPIC_MATCHING);
    this.#running = 0;
    this.#matched.clear();
    await Promise.all([...rules.map((r) => r.runtime.close()), ...this.#retiring]);
  }
}
