/**
 * Loads and validates rule files without running them (`kiot rules check`): syntax, unknown
 * functions and wrong argument counts (by compiling the SQL), unknown action kinds or
 * parameters, missing required parameters, and substitution templates that do not compile.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PlatformError } from '../../core/index.js';
import { compileTemplate } from '../sql/index.js';
import { ACTION_KINDS, actionKind, retiredAction, validateActionParams } from './action-catalogue.js';
import { compileRule } from './compile-rule.js';
import { parseJsonRuleFile, parseSqlRuleFile, type ActionModel, type RuleModel } from './rule-files.js';

export interface RuleProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** `file:line:column: message`, as the CLI prints it. */
export const formatProblem = (p: RuleProblem): string => `${p.file}:${p.line}:${p.column}: ${p.message}`;

export const isRuleFile = (name: string): boolean => /\.sql$/i.test(name) || /\.rule\.json$/i.test(name);

/** Every rule file under `paths` (files as given; directories searched recursively), sorted. */
export async function findRuleFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const visit = async (path: string, explicit: boolean): Promise<void> => {
    const info = await stat(path);
    if (info.isDirectory()) {
      const entries = await readdir(path);
      for (const entry of entries.sort()) await visit(join(path, entry), false);
    } else if (explicit || isRuleFile(path)) {
      out.push(path);
    }
  };
  for (const p of paths) await visit(p, true);
  return out;
}

function problemOf(err: unknown, file: string): RuleProblem {
  if (err instanceof PlatformError) {
    const d = err.details as { line?: number; column?: number; reason?: string };
    if (typeof d.line === 'number' && typeof d.column === 'number') {
      return { file, line: d.line, column: d.column, message: d.reason ?? err.message };
    }
    return { file, line: 1, column: 1, message: err.message };
  }
  return { file, line: 1, column: 1, message: err instanceof Error ? err.message : String(err) };
}

/** Compiles the rule's SQL so that error positions are positions in its file. */
function checkSql(rule: RuleModel): RuleProblem | undefined {
  try {
    compileRule(rule);
    return undefined;
  } catch (err) {
    return problemOf(err, rule.sqlSource.file);
  }
}

function checkAction(action: ActionModel, role: string): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const { file, line, column } = action.source;
  const kind = actionKind(action.type);
  if (!kind) {
    const retired = retiredAction(action.type);
    if (retired) return [{ file, line, column, message: `${role} ${action.type} is not supported: ${retired}` }];
    const known = ACTION_KINDS.map((k) => k.type).join(', ');
    return [{ file, line, column, message: `unknown ${role} ${action.type} (known: ${known})` }];
  }
  // The kind's own config schema (the one the rules worker runs) judges names and values.
  const unknown = new Set<string>();
  for (const p of validateActionParams(kind.type, action.params)) {
    const at = (p.param !== undefined && action.paramSources[p.param]) || action.source;
    if (p.message.startsWith('unknown parameter') && p.param !== undefined) unknown.add(p.param);
    problems.push({ ...at, message: `${kind.type}: ${p.message}` });
  }
  for (const [key, value] of Object.entries(action.params)) {
    const at = action.paramSources[key] ?? action.source;
    if (unknown.has(key)) continue;
    // Templates nested in objects and lists (postgres columns, redis fields) are rendered too.
    for (const [path, text] of templateStrings(value, key)) {
      try {
        compileTemplate(text, { source: `${kind.type}.${path}` });
      } catch (err) {
        const reason = err instanceof PlatformError ? ((err.details as { reason?: string }).reason ?? err.message) : String(err);
        problems.push({ ...at, message: `${kind.type}: ${path}: bad substitution template: ${reason}` });
      }
    }
  }
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Every string in a parameter's value, with its path (`columns.temperature`, `values[1]`). */
function templateStrings(value: unknown, path: string): [string, string][] {
  if (typeof value === 'string') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => templateStrings(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => templateStrings(v, `${path}.${k}`));
  return [];
}

export interface LoadedRules {
  readonly rules: RuleModel[];
  readonly problems: RuleProblem[];
  /** How many rule files were read (directories are searched for *.sql and *.rule.json only). */
  readonly files?: number;
}

/** What a rule file holds, said when a file starts with a bare statement instead. */
const RULE_FILE_SHAPE = "a rule file holds CREATE RULE <name> AS SELECT ... FROM '<topic filter>' DO <action>(...); blocks, each ended by ';'";

/** Parses one file's text into rules (no SQL compilation). */
export function parseRuleFile(text: string, file: string): RuleModel[] {
  return /\.rule\.json$/i.test(file) ? [parseJsonRuleFile(text, file)] : parseSqlRuleFile(text, file);
}

/** Validates every rule in one file's text. */
export function checkRuleText(text: string, file: string): LoadedRules {
  let rules: RuleModel[];
  try {
    rules = parseRuleFile(text, file);
  } catch (err) {
    const problem = problemOf(err, file);
    // A bare `SELECT ...` (what the AWS console shows) parses as far as its first word: say what a file should hold.
    if (/^\s*select\b/i.test(text)) return { rules: [], problems: [{ ...problem, message: `${RULE_FILE_SHAPE}; found a bare SELECT` }] };
    return { rules: [], problems: [problem] };
  }
  const problems: RuleProblem[] = [];
  for (const rule of rules) {
    const sqlProblem = checkSql(rule);
    if (sqlProblem) problems.push(sqlProblem);
    if (rule.actions.length === 0) problems.push({ ...rule.source, message: `rule ${rule.name} has no actions` });
    for (const a of rule.actions) problems.push(...checkAction(a, 'action'));
    if (rule.errorAction) problems.push(...checkAction(rule.errorAction, 'error action'));
  }
  return { rules, problems };
}

/**
 * Loads and validates the rule files under `paths`. Never throws for bad content: every
 * problem is returned, in file order. A rule name used twice across files is a problem.
 */
export async function checkRules(paths: readonly string[]): Promise<LoadedRules> {
  const rules: RuleModel[] = [];
  const problems: RuleProblem[] = [];
  let files: string[];
  try {
    files = await findRuleFiles(paths);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { rules, problems: [{ file: e.path ?? String(paths[0]), line: 1, column: 1, message: `cannot read: ${e.code ?? e.message}` }] };
  }
  const names = new Map<string, RuleModel>();
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const result = checkRuleText(text, file);
    for (const rule of result.rules) {
      const other = names.get(rule.name);
      if (other) result.problems.push({ ...rule.source, message: `rule ${rule.name} is also defined at ${other.source.file}:${other.source.line}:${other.source.column}` });
      else names.set(rule.name, rule);
    }
    rules.push(...result.rules);
    problems.push(...result.problems);
  }
  return { rules, problems, files: files.length };
}
