import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import { TOPIC_FILTER_CASES } from '../../rules/sql/testing/topic-filter-cases.js';
import { register as registerRules } from './rules.js';
import { register as registerSql, type CliIo } from './sql.js';

async function runCli(args: string[], stdinText = ''): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  let stdout = '';
  let stderr = '';
  let exitCode = 0;
  const out = new PassThrough();
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  const err = new PassThrough();
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const io: CliIo = { stdin: Readable.from([stdinText]), stdout: out, stderr: err, setExitCode: (c) => (exitCode = c) };
  const program = new Command('kiot').exitOverride();
  registerSql(program, io);
  registerRules(program, io);
  await program.parseAsync(['node', 'kiot', ...args]);
  return { stdout, stderr, exitCode };
}

describe('kiot sql eval --jsonl', () => {
  test('answers each line in order', async () => {
    const lines = [
      { id: 1, sql: "SELECT color AS my_color FROM 'a/b' WHERE temperature > 50", topic: 'a/b', payload: { color: 'red', temperature: 60 } },
      { id: 2, sql: "SELECT color AS my_color FROM 'a/b' WHERE temperature > 50", topic: 'a/b', payload: { color: 'red', temperature: 40 } },
      { id: 3, sql: 'SELECT nope() FROM', topic: 'a/b', payload: {} },
      { id: 4, sql: "SELECT clientid() AS c FROM 'a/b'", topic: 'a/b', payloadText: 'not json' },
      { id: 5, sql: "SELECT clientid() AS c, encode(*, 'base64') AS b FROM 'a/b'", topic: 'a/b', payloadBase64: Buffer.from([1, 2, 3]).toString('base64'), clientid: 'dev1' },
      { id: 6, sql: "SELECT * FROM 'factory/+'", topic: 'factory/x', payload: { t: 1 }, template: 'alerts/${topic(2)}/${t}' },
      { id: 7, sql: "SELECT VALUE upper(t) FROM 'a'", topic: 'a', payload: { t: 'x' } },
    ];
    const { stdout, exitCode } = await runCli(['sql', 'eval', '--jsonl'], `${lines.map((l) => JSON.stringify(l)).join('\n')}\nnot json\n`);
    const answers = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(exitCode).toBe(0);
    expect(answers[0]).toEqual({ id: 1, match: true, output: { my_color: 'red' } });
    expect(answers[1]).toEqual({ id: 2, match: false });
    expect(answers[2].id).toBe(3);
    expect(answers[2].error).toMatch(/^sql:1:\d+: expected/);
    expect(answers[3]).toEqual({ id: 4, match: true, output: { c: 'n/a' } });
    expect(answers[4]).toEqual({ id: 5, match: true, output: { c: 'dev1', b: 'AQID' } });
    expect(answers[5]).toEqual({ id: 6, match: true, output: { t: 1 }, template: 'alerts/x/1' });
    expect(answers[6]).toEqual({ id: 7, match: true, output: 'X' });
    expect(answers[7].error).toContain('invalid JSON');
  });
});

describe('kiot sql eval --jsonl: the FROM filter decides whether a rule fires (iot-sql-from, topics)', () => {
  test('every shape of filter against topics it does and does not match', async () => {
    const lines = TOPIC_FILTER_CASES.map((c, i) => ({ id: i, sql: `SELECT t FROM '${c.filter}'`, topic: c.topic, payload: { t: i } }));
    const { stdout, exitCode } = await runCli(['sql', 'eval', '--jsonl'], lines.map((l) => JSON.stringify(l)).join('\n'));
    expect(exitCode).toBe(0);
    const answers = stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(answers).toEqual(TOPIC_FILTER_CASES.map((c, i) => (c.matches ? { id: i, match: true, output: { t: i } } : { id: i, match: false })));
  });
  test('a topic that does not match gives match:false even when WHERE is true; so does a statement without FROM', async () => {
    const lines = [
      { id: 'a', sql: "SELECT * FROM 'sensor/#' WHERE true", topic: 'sensor', payload: { v: 1 } },
      { id: 'b', sql: "SELECT * FROM 'sensor/#' WHERE true", topic: 'sensor/t', payload: { v: 1 } },
      { id: 'c', sql: 'SELECT 1 AS one', topic: 'sensor/t', payload: {} },
      { id: 'd', sql: "SELECT 5--1 AS r FROM 'a'", topic: 'a', payload: {} },
      { id: 'e', sql: "SELECT 5--1 AS r FROM 'a'", topic: 'b', payload: {} },
    ];
    const { stdout } = await runCli(['sql', 'eval', '--jsonl'], lines.map((l) => JSON.stringify(l)).join('\n'));
    expect(stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { id: 'a', match: false },
      { id: 'b', match: true, output: { v: 1 } },
      { id: 'c', match: false },
      { id: 'd', match: true, output: { r: 6 } },
      { id: 'e', match: false },
    ]);
  });
});

describe('kiot sql eval (one message)', () => {
  test('prints the output', async () => {
    const r = await runCli(['sql', 'eval', '--sql', "SELECT (temperature - 32) * 5 / 9 AS celsius FROM 'a/b'", '--topic', 'a/b', '--payload', '{"temperature":50}']);
    expect(r.stdout).toBe('{"celsius":10}\n');
  });
  test('a bad rule is one line and exit 1', async () => {
    const r = await runCli(['sql', 'eval', '--sql', 'SELECT FROM', '--topic', 'a/b', '--payload', '{}']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^kiot: sql:1:8: expected .*, found 'FROM'\n$/);
  });
});

describe('kiot rules check', () => {
  test('prints problems and exits 1; clean files exit 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiot-cli-rules-'));
    try {
      await writeFile(join(dir, 'good.sql'), "CREATE RULE ok AS SELECT * FROM 'a/+' DO republish(topic = 'b/${topic(2)}');\n");
      const clean = await runCli(['rules', 'check', dir]);
      expect(clean.exitCode).toBe(0);
      expect(clean.stdout).toBe('');
      expect(clean.stderr).toContain('checked 1 rule in 1 file: no problems');
      await writeFile(join(dir, 'bad.sql'), "CREATE RULE bad AS SELECT lowr(a) FROM 'a' DO republish(topic = 'x');\n");
      const bad = await runCli(['rules', 'check', dir]);
      expect(bad.exitCode).toBe(1);
      expect(bad.stdout).toBe(`${join(dir, 'bad.sql')}:1:27: unknown function lowr()\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
