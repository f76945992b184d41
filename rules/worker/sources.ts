/**
 * Where rules come from: rule files in the rules directory (watched, with polling as a safety
 * net, so edits apply without a restart) and the `iot.rules` table (key = rule name, value = the
 * rule as JSON), which the API writes so that every worker of a cluster runs the same set.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { TOPICS, type Log, type Logger, type Table } from '../../core/index.js';
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

  /** File-level problems (a file that does not parse, a rule name defined twice). */
  problems(): readonly string[] {
    return this.#problems;
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
    } catch {
      files = [];
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

const TABLE_SOURCE = { file: TOPICS.rules, line: 1, column: 1 } as const;

function tableAction(raw: unknown): ActionModel {
  const a = (raw ?? {}) as { type?: unknown; params?: unknown };
  if (typeof a.type !== 'string') throw new Error('an action needs a "type" string');
  const params = a.params === undefined ? {} : a.params;
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new Error(`action ${a.type}: "params" must be an object`);
  return { type: a.type.toLowerCase(), params: params as ActionModel['params'], source: TABLE_SOURCE, paramSources: {} };
}

/**
 * One `iot.rules` value as a rule. Accepted shapes: kiot's rule model as JSON (`name`, `sql`,
 * `sqlVersion`, `enabled`, `description`, `actions: [{type, params}]`, `errorAction`), or an AWS
 * TopicRulePayload (`sql`, `actions: [{republish: {...}}]`, `ruleDisabled`, ...). The key names
 * the rule.
 */
export function ruleFromTable(name: string, value: Buffer): SourcedRule {
  const origin = { kind: 'table' } as const;
  const text = value.toString('utf8');
  const stub = (problem: string): SourcedRule => ({
    model: { name, description: undefined, sql: '', sqlVersion: DEFAULT_RULE_SQL_VERSION, enabled: true, actions: [], source: TABLE_SOURCE, sqlSource: TABLE_SOURCE },
    origin,
    problem: `${TOPICS.rules}/${name}: ${problem}`,
  });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return stub(`not JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return stub('expected a JSON object');
  const d = doc as Record<string, unknown>;
  const actions = Array.isArray(d['actions']) ? d['actions'] : [];
  const isModel = actions.every((a) => a !== null && typeof a === 'object' && 'type' in a) && ('sqlVersion' in d || 'enabled' in d || 'name' in d || actions.length > 0);
  try {
    if (!isModel || 'awsIotSqlVersion' in d || 'ruleDisabled' in d) {
      const model = parseJsonRuleFile(text, `${name}.rule.json`);
      return { model: { ...model, name, source: TABLE_SOURCE, sqlSource: TABLE_SOURCE }, origin };
    }
    if (typeof d['sql'] !== 'string') return stub('"sql" must be a string');
    const model: RuleModel = {
      name,
      description: typeof d['description'] === 'string' ? d['description'] : undefined,
      sql: d['sql'],
      sqlVersion: typeof d['sqlVersion'] === 'string' ? d['sqlVersion'] : DEFAULT_RULE_SQL_VERSION,
      enabled: d['enabled'] !== false,
      actions: actions.map(tableAction),
      ...(d['errorAction'] ? { errorAction: tableAction(d['errorAction']) } : {}),
      source: TABLE_SOURCE,
      sqlSource: TABLE_SOURCE,
    };
    return { model, origin };
  } catch (err) {
    return stub((err as Error).message);
  }
}

/** The `iot.rules` table as a rule source. */
export class TableRuleSource {
  #table: Table | undefined;
  #unsubscribe: (() => void) | undefined;
  #rules = new Map<string, SourcedRule>();

  constructor(
    private readonly log: Log,
    private readonly onChange: () => void,
    private readonly topic: string = TOPICS.rules,
  ) {}

  rules(): ReadonlyMap<string, SourcedRule> {
    return this.#rules;
  }

  /** Opens the table (it has caught up when this resolves) and follows it. */
  async start(): Promise<void> {
    const table = await this.log.openTable(this.topic);
    this.#table = table;
    for (const [key, value] of table.entries()) this.#rules.set(key, ruleFromTable(key, value));
    this.#unsubscribe = table.onChange((change) => {
      const next = new Map(this.#rules);
      if (change.value === undefined) next.delete(change.key);
      else next.set(change.key, ruleFromTable(change.key, change.value));
      this.#rules = next;
      this.onChange();
    });
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#table?.close();
  }
}
