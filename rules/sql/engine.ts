/**
 * The public operations of `kiot/sql` over a given runtime. `index.ts` binds them to the real
 * operators and function library; tests may bind them to a small double.
 */
import { PlatformError } from '../../core/errors.js';
import {
  compileStatement,
  DEFAULT_SQL_VERSION,
  NOT_FIRED,
  runtimeError,
  SQL_VERSIONS,
  type CompileContext,
  type CompiledProgram,
  type SqlInput,
  type SqlResult,
  type SqlVersion,
} from './compile.js';
import { parseSql } from './parse.js';
import type { Statement } from './ast.js';
import type { SqlRuntime, SqlValue } from './runtime.js';
import { compileTemplateWith, type CompiledTemplate } from './template.js';
import { ruleTopicMatcher } from './topic-filter-index.js';

export interface CompileSqlOptions {
  /** `2016-03-23` (default), `2015-10-08` or `beta` (AWS's `awsIotSqlVersion`). */
  readonly sqlVersion?: string;
  /** Names the SQL in error messages (`file.sql:3:12: ...`); default `<sql>`. */
  readonly source?: string;
  /** The rule's name: messages on `$aws/rules/<ruleName>/...` (Basic Ingest) match it. */
  readonly ruleName?: string;
  /** Services for get_thing_shadow, get_dynamodb, aws_lambda, get_secret. */
  readonly services?: unknown;
  /** What accountid() returns. */
  readonly accountId?: string;
}

/** A rule's SQL, compiled once. */
export interface CompiledSql {
  readonly sql: string;
  readonly sqlVersion: SqlVersion;
  /** The FROM topic filter; undefined for a rule that only Basic Ingest triggers. */
  readonly topicFilter: string | undefined;
  readonly ruleName: string | undefined;
  /**
   * True when the rule calls an async function (get_dynamodb, get_thing_shadow, aws_lambda,
   * get_secret): `evaluate` and `execute` then return Promises.
   */
  readonly isAsync: boolean;
  /** False when the rule never reads the payload (it is then never parsed). */
  readonly readsPayload: boolean;
  /**
   * True when a message on `topic` triggers the rule: its FROM filter matches (with `#` not
   * matching the parent topic, as the guide says for rules), or it is Basic Ingest to this rule.
   */
  matches(topic: string): boolean;
  /**
   * The rule's output for one message, or `undefined` when the rule does not fire: the topic
   * does not match (see `matches`; a rule without FROM fires on Basic Ingest only) or WHERE is
   * not true. `SELECT VALUE` of an Undefined value gives `''`. Throws (or rejects with) a
   * PlatformError: RULES_SQL_RUNTIME for an unexpected failure, a service's own error for an
   * async function. A Promise when `isAsync`.
   */
  evaluate(input: SqlInput): SqlValue | Promise<SqlValue>;
  /** Like `evaluate`, always a Promise. */
  evaluateAsync(input: SqlInput): Promise<SqlValue>;
  /** Output and SET variables (for substitution templates), or undefined when not fired (as `evaluate`). */
  execute(input: SqlInput): SqlResult | undefined | Promise<SqlResult | undefined>;
  /**
   * `evaluate` for a caller that has already established that the rule matches the message's
   * topic: `matches(input.topic)`, or a TopicFilterIndex built with RULE_TOPIC_MATCHING, as the
   * rules worker routes messages. For such a message it answers as `evaluate` does; it does not
   * test the topic again, which for a wildcard filter costs more than a small rule itself.
   */
  evaluateMatched(input: SqlInput): SqlValue | Promise<SqlValue>;
  /** `execute` without the topic test (see `evaluateMatched`). */
  executeMatched(input: SqlInput): SqlResult | undefined | Promise<SqlResult | undefined>;
}

export function parseSqlVersion(version: string | undefined, source: string): SqlVersion {
  if (version === undefined) return DEFAULT_SQL_VERSION;
  if ((SQL_VERSIONS as readonly string[]).includes(version)) return version as SqlVersion;
  throw new PlatformError('RULES_SQL_SEMANTIC', `${source}: sql_version: expected one of ${SQL_VERSIONS.join(', ')}, found ${JSON.stringify(version)}`, {
    details: { source, field: 'sql_version' },
  });
}

export function compileSqlWith(runtime: SqlRuntime, sql: string, options: CompileSqlOptions = {}): CompiledSql {
  const source = options.source ?? '<sql>';
  const sqlVersion = parseSqlVersion(options.sqlVersion, source);
  const statement = parseSql(sql, source);
  try {
    return compileParsed(runtime, sql, statement, source, sqlVersion, options);
  } catch (err) {
    // Long member chains can still recurse deeply in code generation.
    if (err instanceof RangeError) throw new PlatformError('RULES_SQL_SEMANTIC', `${source}: the statement is too deeply nested to compile`, { cause: err, details: { source } });
    throw err;
  }
}

function compileParsed(runtime: SqlRuntime, sql: string, statement: Statement, source: string, sqlVersion: SqlVersion, options: CompileSqlOptions): CompiledSql {
  const from = statement.query.from;
  const topicFilter = from?.kind === 'topic' ? from.filter : undefined;
  const ruleName = options.ruleName;
  const matches = ruleTopicMatcher(topicFilter, ruleName);
  const context: CompileContext = {
    runtime,
    source,
    sqlVersion,
    matchTopic: matches,
    ...(options.services !== undefined ? { services: options.services } : {}),
    ...(options.accountId !== undefined ? { accountId: options.accountId } : {}),
  };
  const program = compileStatement(statement, context);
  const hasVariables = statement.set.length > 0;
  const checked = entryPoints(program, program.run, program.evaluate, source, hasVariables);
  const matched = entryPoints(program, program.runMatched, program.evaluateMatched, source, hasVariables);
  return {
    sql,
    sqlVersion,
    topicFilter,
    ruleName,
    isAsync: program.isAsync,
    readsPayload: program.readsPayload,
    matches,
    evaluate: checked.evaluate,
    evaluateAsync: async (input) => checked.evaluate(input),
    execute: checked.execute,
    evaluateMatched: matched.evaluate,
    executeMatched: matched.execute,
  };
}

/** The variables of a rule that SETs none. */
const NO_VARIABLES: ReadonlyMap<string, SqlValue> = new Map();

/** `evaluate` and `execute` over one generated `run` (with or without the topic test). */
function entryPoints(
  program: CompiledProgram,
  run: CompiledProgram['run'],
  generatedEvaluate: ((input: SqlInput) => SqlValue) | undefined,
  source: string,
  hasVariables: boolean,
): Pick<CompiledSql, 'evaluate' | 'execute'> {
  // The synchronous form is the per-message hot path: one call, one comparison.
  const evaluateSync = (input: SqlInput): SqlValue => {
    let out: SqlValue | typeof NOT_FIRED;
    try {
      out = run(input) as SqlValue | typeof NOT_FIRED;
    } catch (err) {
      throw runtimeError(err, source);
    }
    return out === NOT_FIRED ? undefined : out;
  };

  const evaluateAny = (input: SqlInput): SqlValue | Promise<SqlValue> => {
    try {
      const out = run(input);
      if (program.isAsync) {
        return (out as Promise<SqlValue | typeof NOT_FIRED>).then(
          (v) => (v === NOT_FIRED ? undefined : v),
          (err: unknown) => {
            throw runtimeError(err, source);
          },
        );
      }
      return out === NOT_FIRED ? undefined : (out as SqlValue);
    } catch (err) {
      throw runtimeError(err, source);
    }
  };

  // A synchronous rule's generated `evaluate` is the hot path itself (compile.ts).
  const evaluate = program.isAsync ? evaluateAny : (generatedEvaluate ?? evaluateSync);

  if (!hasVariables && !program.isAsync) {
    // Most rules SET nothing: no Map per message, and the generated hot path itself.
    const fast = generatedEvaluate ?? evaluateSync;
    return {
      evaluate,
      execute: (input) => {
        const output = fast(input);
        return output === undefined ? undefined : { output, variables: NO_VARIABLES };
      },
    };
  }
  const execute = (input: SqlInput): SqlResult | undefined | Promise<SqlResult | undefined> => {
    const variables = new Map<string, SqlValue>();
    const done = (v: SqlValue | typeof NOT_FIRED): SqlResult | undefined => (v === NOT_FIRED ? undefined : { output: v, variables });
    try {
      const out = run(input, variables);
      if (program.isAsync) {
        return (out as Promise<SqlValue | typeof NOT_FIRED>).then(done, (err: unknown) => {
          throw runtimeError(err, source);
        });
      }
      return done(out as SqlValue | typeof NOT_FIRED);
    } catch (err) {
      throw runtimeError(err, source);
    }
  };
  return { evaluate, execute };
}

export interface CompileTemplateOptions {
  readonly source?: string;
  readonly sqlVersion?: string;
  readonly services?: unknown;
  readonly accountId?: string;
}

export function compileTemplateWithRuntime(runtime: SqlRuntime, text: string, options: CompileTemplateOptions = {}): CompiledTemplate {
  const source = options.source ?? '<template>';
  return compileTemplateWith(text, {
    runtime,
    source,
    sqlVersion: parseSqlVersion(options.sqlVersion, source),
    ...(options.services !== undefined ? { services: options.services } : {}),
    ...(options.accountId !== undefined ? { accountId: options.accountId } : {}),
  });
}
