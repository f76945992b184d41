/**
 * `kiot sql eval`: evaluates IoT SQL against messages without running the platform.
 *
 * JSON lines mode (`--jsonl`) reads one request per stdin line and writes one answer per line,
 * in order:
 *   in:  {"id","sql","topic","payload"|"payloadText"|"payloadBase64","clientid"?,"template"?,"sqlVersion"?}
 *   out: {"id","match":true,"output":...,"template"?:"..."} | {"id","match":false} | {"id","error":"..."}
 * `payload` is a JSON value (the message is its JSON text), `payloadText` a raw string,
 * `payloadBase64` raw bytes. Without `clientid` the message did not arrive over MQTT, so
 * clientid() is "n/a". Each distinct SQL text is compiled once.
 *
 * `"match": false` means the rule does not fire, exactly as in the rules worker: the topic does
 * not match the FROM filter (rules read `#` as the AWS IoT guide does: `a/#` does not match `a`;
 * a statement without FROM fires on Basic Ingest only), or WHERE is not true.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { PlatformError } from '../../core/index.js';
import { compileSql, compileTemplate, toJsonValue, type CompiledSql, type SqlInput, type SqlValue } from '../../rules/sql/index.js';

/** The process streams, injectable so that tests run commands in-process. */
export interface CliIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  setExitCode(code: number): void;
}

export const processIo: CliIo = {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

interface EvalRequest {
  id?: unknown;
  sql?: unknown;
  topic?: unknown;
  payload?: unknown;
  payloadText?: unknown;
  payloadBase64?: unknown;
  clientid?: unknown;
  principal?: unknown;
  sourceip?: unknown;
  traceid?: unknown;
  timestamp?: unknown;
  template?: unknown;
  sqlVersion?: unknown;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Builds the rule input from a request's message fields; throws INPUT_INVALID. */
export function inputOf(req: EvalRequest): SqlInput {
  if (typeof req.topic !== 'string') throw new PlatformError('INPUT_INVALID', 'topic: expected a string');
  const base: { -readonly [K in keyof SqlInput]: SqlInput[K] } = { topic: req.topic };
  if (req.payloadBase64 !== undefined) {
    if (typeof req.payloadBase64 !== 'string') throw new PlatformError('INPUT_INVALID', 'payloadBase64: expected a base64 string');
    base.payload = Buffer.from(req.payloadBase64, 'base64');
  } else if (req.payloadText !== undefined) {
    if (typeof req.payloadText !== 'string') throw new PlatformError('INPUT_INVALID', 'payloadText: expected a string');
    base.payload = req.payloadText;
  } else if (req.payload !== undefined) {
    // The message's bytes are the JSON text of `payload`; the rule reads the value.
    base.json = req.payload;
    base.payload = JSON.stringify(req.payload);
  }
  if (typeof req.clientid === 'string') base.clientId = req.clientid;
  if (typeof req.principal === 'string') base.principal = req.principal;
  if (typeof req.sourceip === 'string') base.sourceIp = req.sourceip;
  if (typeof req.traceid === 'string') base.traceId = req.traceid;
  if (typeof req.timestamp === 'number') base.timestamp = req.timestamp;
  return base;
}

/** Compiles each distinct (sql, version) once. */
class RuleCache {
  readonly #rules = new Map<string, CompiledSql | PlatformError>();
  get(sql: string, sqlVersion: string | undefined): CompiledSql {
    const key = `${sqlVersion ?? ''}\u0000${sql}`;
    let rule = this.#rules.get(key);
    if (rule === undefined) {
      try {
        rule = compileSql(sql, { source: 'sql', ...(sqlVersion ? { sqlVersion } : {}) });
      } catch (err) {
        rule = err instanceof PlatformError ? err : new PlatformError('INTERNAL', errorText(err), { cause: err });
      }
      if (this.#rules.size > 10_000) this.#rules.clear();
      this.#rules.set(key, rule);
    }
    if (rule instanceof PlatformError) throw rule;
    return rule;
  }
}

/** Answers one request line; never throws. */
export async function evalLine(line: string, cache: RuleCache): Promise<Record<string, unknown>> {
  let req: EvalRequest;
  try {
    req = JSON.parse(line) as EvalRequest;
  } catch (err) {
    return { id: null, error: `expected a JSON object per line, found invalid JSON: ${errorText(err)}` };
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return { id: null, error: 'expected a JSON object per line' };
  const id = req.id ?? null;
  try {
    if (typeof req.sql !== 'string') throw new PlatformError('INPUT_INVALID', 'sql: expected a string');
    const rule = cache.get(req.sql, typeof req.sqlVersion === 'string' ? req.sqlVersion : undefined);
    const input = inputOf(req);
    const result = await rule.execute(input);
    if (result === undefined) return { id, match: false };
    const answer: Record<string, unknown> = { id, match: true, output: toJsonValue(result.output) ?? null };
    if (typeof req.template === 'string') {
      answer['template'] = await compileTemplate(req.template, { source: 'template' }).renderAsync(input, result.variables);
    }
    return answer;
  } catch (err) {
    return { id, error: errorText(err) };
  }
}

/** Reads JSON lines from `io.stdin` until it ends, answering each in order. */
export async function runJsonl(io: CliIo): Promise<void> {
  const cache = new RuleCache();
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const answer = await evalLine(line, cache);
    io.stdout.write(`${JSON.stringify(answer)}\n`);
  }
}

interface EvalFlags {
  jsonl?: boolean;
  sql?: string;
  topic?: string;
  payload?: string;
  payloadText?: string;
  payloadBase64?: string;
  clientid?: string;
  template?: string;
  sqlVersion?: string;
}

async function evalOne(flags: EvalFlags, io: CliIo): Promise<void> {
  if (flags.sql === undefined || flags.topic === undefined) {
    io.stderr.write('kiot sql eval: expected --sql and --topic (or --jsonl)\n');
    io.setExitCode(2);
    return;
  }
  let payload: unknown;
  if (flags.payload !== undefined) {
    try {
      payload = JSON.parse(flags.payload);
    } catch (err) {
      io.stderr.write(`kiot sql eval: --payload: expected JSON, found invalid JSON: ${errorText(err)} (use --payload-text for raw text)\n`);
      io.setExitCode(2);
      return;
    }
  }
  const answer = await evalLine(
    JSON.stringify({
      id: null,
      sql: flags.sql,
      topic: flags.topic,
      payload,
      payloadText: flags.payloadText,
      payloadBase64: flags.payloadBase64,
      clientid: flags.clientid,
      template: flags.template,
      sqlVersion: flags.sqlVersion,
    }),
    new RuleCache(),
  );
  if (typeof answer['error'] === 'string') {
    io.stderr.write(`kiot: ${answer['error']}\n`);
    io.setExitCode(1);
  } else if (answer['match'] === false) {
    io.stderr.write('the rule did not fire (the topic does not match its FROM filter, or WHERE is not true)\n');
  } else {
    io.stdout.write(`${JSON.stringify(answer['output'] as SqlValue)}\n`);
    if (answer['template'] !== undefined) io.stdout.write(`${String(answer['template'])}\n`);
  }
}

/** Adds `kiot sql ...` to the program. */
export function register(program: Command, io: CliIo = processIo): void {
  const sql = program.command('sql').description('evaluate AWS IoT SQL against messages, without running the platform');
  sql
    .command('eval')
    .description(
      'evaluate a rule against one message (--sql, --topic, --payload) and print its output, or with --jsonl ' +
        'answer JSON lines from stdin: {"id","sql","topic","payload"|"payloadText"|"payloadBase64","clientid"?,"template"?} -> ' +
        '{"id","match":true,"output":...,"template"?} | {"id","match":false} | {"id","error":"..."}',
    )
    .option('--jsonl', 'read requests as JSON lines on stdin, write one answer line each')
    .option('--sql <sql>', "the rule SQL, e.g. \"SELECT temp FROM 'devices/+' WHERE temp > 30\"")
    .option('--topic <topic>', 'the MQTT topic the message was published to')
    .option('--payload <json>', 'the message payload as JSON')
    .option('--payload-text <text>', 'the message payload as raw text (parsed as JSON if it is JSON)')
    .option('--payload-base64 <base64>', 'the message payload as raw bytes, base64-encoded')
    .option('--clientid <id>', 'the MQTT client id (omit for a message that did not arrive over MQTT)')
    .option('--template <text>', 'a substitution template to render, e.g. "alerts/${topic(2)}"')
    .option('--sql-version <version>', 'SQL version: 2016-03-23 (default), 2015-10-08 or beta')
    .action(async (flags: EvalFlags) => {
      if (flags.jsonl) await runJsonl(io);
      else await evalOne(flags, io);
    });
}
