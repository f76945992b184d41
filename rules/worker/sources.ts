/**
 * Where rules come from: rule files in the rules directory (watched, with polling as a safety
 * net, so edits apply without a restart) and the `iot.rules` table (key = rule name, value = the
 * rule, layout at {@link topicRuleCodec}), which the API writes so that every worker of a
 * cluster runs the same set.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { PlatformError, StateStore, TOPICS, jsonCodec, topicSpec, type Log, type Logger, type StateCodec, type StateView, type TopicSpec } from '../../core/index.js';
import { checkRuleText, DEFAULT_RULE_SQL_VERSION, findRuleFiles, formatProblem, parseJsonRuleFile, type ActionModel, type RuleModel, type RuleProblem } from '../files/index.js';
import type { SourcedRule } from './rule-set.js';

/** How often the rules directory is rescanned when fs.watch says nothing (some filesystems never do). */
export const DEFAULT_POLL_INTERVAL_MS = 1_000;

interface FileEntry {
  readonly stamp: string;
  readonly rules: RuleModel[];
  readonly problems: RuleProblem[];
}

/** The problems of `rules` that fall inside each rule's text (a problem before every rule is the file's). */
function problemsByRule(rules: readonly RuleModel[], problems: readonly RuleProblem[]): { perRule: Map<RuleModel, RuleProblem[]>; file: RuleProblem[] } {
  const perRule = new Map<RuleModel, RuleProblem[]>();
  const file: RuleProblem[] = [];
  const sorted = [...rules].sort((a, b) => a.source.line - b.source.line || a.source.column - b.source.column);
  for (const p of problems) {
    let owner: RuleModel | undefined;
    for (const r of sorted) if (r.source.line < p.line || (r.source.line === p.line && r.source.column <= p.column)) owner = r;
    if (owner && rules.length > 0) perRule.set(owner, [...(perRule.get(owner) ?? []), p]);
    else file.push(p);
  }
  return { perRule, file };
}

export class FileRuleSource {
  readonly #files = new Map<string, FileEntry>();
  readonly #logger: Logger;
  #rules = new Map<string, SourcedRule>();
  #problems: string[] = [];
  /** Why the directory itself cannot be read (missing, not a directory, no permission), if so. */
  #dirProblem: string | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    readonly dir: string,
    logger: Logger,
    private readonly onChange: () => void,
    private readonly pollIntervalMs = DEFAULT_POLL_INTERVAL_MS,
  ) {
    this.#logger = logger.child({ module: 'rules.files' });
  }

  rules(): ReadonlyMap<string, SourcedRule> {
    return this.#rules;
  }

  /** The directory's problem, then file-level ones (a file that does not parse, a rule name defined twice). */
  problems(): readonly string[] {
    return this.#dirProblem ? [this.#dirProblem, ...this.#problems] : this.#problems;
  }

  async start(): Promise<void> {
    await this.scan();
    try {
      this.#watcher = watch(this.dir, { recursive: true }, () => this.#soon());
      this.#watcher.on('error', () => undefined);
    } catch {
      // No directory yet, or no recursive watch here: polling finds the changes.
    }
    this.#timer = setInterval(() => void this.scan(), this.pollIntervalMs);
    this.#timer.unref();
  }

  #soon(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.scan(), 50);
  }

  /** Rescans the directory now; concurrent calls share one scan and a follow-up. */
  scan(): Promise<void> {
    if (this.#scanning) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      try {
        do {
          this.#again = false;
          await this.#scanOnce();
        } while (this.#again && !this.#stopped);
      } finally {
        this.#scanning = undefined;
      }
    })();
    return this.#scanning;
  }

  async #scanOnce(): Promise<void> {
    let files: string[];
    try {
      files = await findRuleFiles([this.dir]);
      this.#dirProblem = undefined;
    } catch (err) {
      files = [];
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read (permission denied)' : code === 'ENOTDIR' ? 'is not a directory' : `cannot be read (${code ?? (err as Error).message})`;
      const problem = `rules dir ${this.dir} ${why}: no rule files are loaded (create it, or point --rules-dir at your *.sql files); rules are picked up once it exists`;
      if (problem !== this.#dirProblem) this.#logger.warn({ dir: this.dir, code }, 'rules dir cannot be read');
      this.#dirProblem = problem;
    }
    let changed = false;
    const seen = new Set(files);
    for (const file of this.#files.keys()) {
      if (!seen.has(file)) {
        this.#files.delete(file);
        changed = true;
      }
    }
    for (const file of files) {
      try {
        const info = await stat(file);
        const stamp = `${info.mtimeMs}:${info.size}:${info.ino}`;
        if (this.#files.get(file)?.stamp === stamp) continue;
        const text = await readFile(file, 'utf8');
        const { rules, problems } = checkRuleText(text, file);
        this.#files.set(file, { stamp, rules, problems });
        changed = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          changed ||= this.#files.delete(file);
          continue;
        }
        this.#logger.warn({ err, file }, 'cannot read rule file');
      }
    }
    if (changed && !this.#stopped) this.#rebuild();
  }

  #rebuild(): void {
    const rules = new Map<string, SourcedRule>();
    const problems: string[] = [];
    for (const [file, entry] of [...this.#files].sort(([a], [b]) => a.localeCompare(b))) {
      const { perRule, file: fileProblems } = problemsByRule(entry.rules, entry.problems);
      for (const p of fileProblems) problems.push(formatProblem(p));
      for (const model of entry.rules) {
        const other = rules.get(model.name);
        if (other) {
          const o = other.model.source;
          problems.push(`${file}:${model.source.line}:${model.source.column}: rule ${model.name} is also defined at ${o.file}:${o.line}:${o.column}`);
          continue;
        }
        const own = perRule.get(model);
        rules.set(model.name, {
          model,
          origin: { kind: 'file', file, line: model.source.line, column: model.source.column },
          ...(own ? { problem: own.map(formatProblem).join('; ') } : {}),
        });
      }
    }
    for (const p of problems) if (!this.#problems.includes(p)) this.#logger.error({ problem: p }, 'rule file problem');
    this.#rules = rules;
    this.#problems = problems;
    this.onChange();
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.close();
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
  }
}

/** Where a table rule "is" in messages that name a source position. */
const TABLE_SOURCE = { file: TOPICS.rules, line: 1, column: 1 } as const;

/** AWS's TopicRulePayload, as the SDKs send it (action bodies are kept as given). */
export interface TopicRulePayload {
  readonly sql: string;
  readonly description?: string;
  /** Absent means none (as in a `*.rule.json` file). */
  readonly actions?: readonly Record<string, unknown>[];
  readonly errorAction?: Record<string, unknown>;
  readonly ruleDisabled?: boolean;
  readonly awsIotSqlVersion?: string;
}

/**
 * One rule on `iot.rules`: the rule model that `rules/files` makes of a rule file (so the worker
 * runs one model whatever the source) and, for a rule the API wrote, what the API answers about
 * it. The key is the rule's name.
 */
export interface TopicRuleRecord extends RuleModel {
  /** `api` for rules written by CreateTopicRule; absent for rules written to the topic by other tools. */
  readonly origin?: 'api';
  /** ms since the epoch (API rules). */
  readonly createdAt?: number;
  /** The FROM topic filter (`topicPattern` in ListTopicRules); absent for Basic Ingest only. */
  readonly topicPattern?: string;
  /** The payload as the caller sent it (GetTopicRule returns it unchanged). */
  readonly topicRulePayload?: TopicRulePayload;
}

type ParamValue = ActionModel['params'][string];
const location = z.object({ file: z.string(), line: z.number(), column: z.number() });
const paramValue: z.ZodType<ParamValue> = z.lazy(() => z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(paramValue), z.record(z.string(), paramValue)]));
const actionModel = z.object({ type: z.string().min(1), params: z.record(z.string(), paramValue), source: location, paramSources: z.record(z.string(), location) });
const jsonObject = z.record(z.string(), z.unknown());
/** A TopicRulePayload's fields and their types (`parseJsonRuleFile` checks the rest: unknown fields, the actions). */
export const topicRulePayloadSchema: z.ZodType<TopicRulePayload> = z.object({
  sql: z.string(),
  description: z.string().optional(),
  actions: z.array(jsonObject).optional(),
  errorAction: jsonObject.optional(),
  ruleDisabled: z.boolean().optional(),
  awsIotSqlVersion: z.string().optional(),
});

const topicRuleRecordSchema: z.ZodType<TopicRuleRecord> = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    sql: z.string(),
    sqlVersion: z.string(),
    enabled: z.boolean(),
    actions: z.array(actionModel),
    errorAction: actionModel.optional(),
    source: location,
    sqlSource: location,
    origin: z.literal('api').optional(),
    createdAt: z.number().nonnegative().optional(),
    topicPattern: z.string().optional(),
    topicRulePayload: topicRulePayloadSchema.optional(),
  })
  // RuleModel's description is always present, if only as undefined.
  .transform((r) => ({ ...r, description: r.description }));

function tableAction(raw: unknown): ActionModel {
  const a = (raw ?? {}) as { type?: unknown; params?: unknown };
  if (typeof a.type !== 'string') throw new Error('an action needs a "type" string');
  const params = a.params === undefined ? {} : a.params;
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new Error(`action ${a.type}: "params" must be an object`);
  return { type: a.type.toLowerCase(), params: params as ActionModel['params'], source: TABLE_SOURCE, paramSources: {} };
}

/**
 * A record written before frames existed (schema version 0) as the current record. The API
 * wrote the current shape already; other tools wrote kiot's rule model as JSON (`sql`,
 * `sqlVersion`, `enabled`, `description`, `actions: [{type, params}]`, `errorAction`) or an AWS
 * TopicRulePayload (`sql`, `actions: [{republish: {...}}]`, `ruleDisabled`, ...), and left the
 * name to the key. Throws (the record is then skipped and logged) when it is neither.
 */
function upgradeTopicRule(raw: unknown, fromVersion: number, name: string): unknown {
  if (fromVersion >= 1) return raw;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('expected a JSON object');
  const d = raw as Record<string, unknown>;
  if (d['origin'] === 'api') return raw;
  const actions = Array.isArray(d['actions']) ? d['actions'] : [];
  const isModel = actions.every((a) => a !== null && typeof a === 'object' && 'type' in a) && ('sqlVersion' in d || 'enabled' in d || 'name' in d || actions.length > 0);
  if (!isModel || 'awsIotSqlVersion' in d || 'ruleDisabled' in d) {
    try {
      const model = parseJsonRuleFile(JSON.stringify(raw), `${name}.rule.json`);
      return { ...model, name, source: TABLE_SOURCE, sqlSource: TABLE_SOURCE };
    } catch (err) {
      // The file name in the message would point at a file that does not exist.
      throw new Error(err instanceof PlatformError ? String(err.details['reason'] ?? err.message) : (err as Error).message, { cause: err });
    }
  }
  if (typeof d['sql'] !== 'string') throw new Error('"sql" must be a string');
  return {
    name,
    description: typeof d['description'] === 'string' ? d['description'] : undefined,
    sql: d['sql'],
    sqlVersion: typeof d['sqlVersion'] === 'string' ? d['sqlVersion'] : DEFAULT_RULE_SQL_VERSION,
    enabled: d['enabled'] !== false,
    actions: actions.map(tableAction),
    ...(d['errorAction'] ? { errorAction: tableAction(d['errorAction']) } : {}),
    source: TABLE_SOURCE,
    sqlSource: TABLE_SOURCE,
  } satisfies RuleModel;
}

/**
 * Record layout on `iot.rules`: key = the rule name; value = a state frame (core/state/codec.ts)
 * around UTF-8 JSON of a {@link TopicRuleRecord}; a tombstone deletes the rule.
 *   schema version 1  a TopicRuleRecord
 *   schema version 0  plain JSON with no frame: a rule the API wrote before the state store (the
 *                     same record), or one another tool wrote (see {@link upgradeTopicRule});
 *                     tools outside kiot may keep writing these
 */
export const topicRuleCodec: StateCodec<TopicRuleRecord> = jsonCodec<TopicRuleRecord>({ name: 'topic rule', version: 1, schema: topicRuleRecordSchema, upgrade: upgradeTopicRule });

/** The rule model of a record (the key names the rule). */
function sourcedRule(name: string, record: TopicRuleRecord): SourcedRule {
  const { origin: _origin, createdAt: _createdAt, topicPattern: _pattern, topicRulePayload: _payload, ...model } = record;
  return { model: { ...model, name }, origin: { kind: 'table' } };
}

/** The `iot.rules` table as a rule source: a read-only view of the rules store (the API writes it). */
export class TableRuleSource {
  #own: StateStore<TopicRuleRecord> | undefined;
  #unsubscribe: (() => void) | undefined;
  #rules = new Map<string, SourcedRule>();

  /** `shared`: the process's `iot.rules` view (cli/ opens it once, and closes it); without one, start() opens a view and stop() closes it. */
  constructor(
    private readonly log: Log,
    private readonly logger: Logger,
    private readonly onChange: () => void,
    private readonly topic: TopicSpec = topicSpec(TOPICS.rules),
    private readonly shared?: StateView<TopicRuleRecord>,
  ) {}

  rules(): ReadonlyMap<string, SourcedRule> {
    return this.#rules;
  }

  /** Opens the view (it has caught up when this resolves) and follows it. */
  async start(): Promise<void> {
    const view = this.shared ?? (this.#own = await StateStore.open({ log: this.log, logger: this.logger, topic: this.topic, codec: topicRuleCodec }));
    for (const [key, record] of view.entries()) this.#rules.set(key, sourcedRule(key, record));
    this.#unsubscribe = view.onChange((change) => {
      const next = new Map(this.#rules);
      if (change.value === undefined) next.delete(change.key);
      else next.set(change.key, sourcedRule(change.key, change.value));
      this.#rules = next;
      this.onChange();
    });
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#own?.close();
  }
}
