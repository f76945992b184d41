/**
 * The real `kiot` CLI as a child process (cli/main.ts through tsx): `kiot sql eval --jsonl` over
 * stdin and stdout, and `kiot rules check` on a directory with a bad file.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { TSX_LOADER } from '../../core/testing/child-process.js';
import { KIOT_MAIN, runKiot } from '../testing.js';

const CHILD_TIMEOUT_MS = 60_000;

/** Runs kiot with `stdinText` piped to it (runKiot ignores stdin) and waits for it to exit. */
function runWithStdin(args: string[], stdinText: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, KIOT_MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kiot ${args.join(' ')} did not exit in time; stderr: ${stderr}`));
    }, CHILD_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdinText);
  });
}

describe('kiot CLI in a child process', () => {
  test(
    'sql eval --jsonl answers each stdin line on stdout, in order',
    async () => {
      const requests = [
        { id: 'fire', sql: "SELECT temperature AS t, clientid() AS c FROM 'dev/+' WHERE temperature > 50", topic: 'dev/1', payload: { temperature: 60 } },
        { id: 'no-fire', sql: "SELECT temperature AS t FROM 'dev/+' WHERE temperature > 50", topic: 'dev/1', payload: { temperature: 40 } },
        { id: 'mqtt', sql: "SELECT VALUE clientid() FROM 'dev/+'", topic: 'dev/1', payload: {}, clientid: 'sensor-7' },
        { id: 'bad-sql', sql: "SELECT FROM 'dev/+'", topic: 'dev/1', payload: {} },
        { id: 'bytes', sql: "SELECT encode(*, 'base64') AS b FROM 'dev/+'", topic: 'dev/1', payloadBase64: Buffer.from([1, 2, 3]).toString('base64') },
        { id: 'in', sql: "SELECT VALUE 3 IN arr FROM 'dev/+'", topic: 'dev/1', payloadText: '{"arr":[1,2,3]}', template: 'to/${topic(2)}' },
      ];
      const { code, stdout, stderr } = await runWithStdin(['sql', 'eval', '--jsonl'], `${requests.map((r) => JSON.stringify(r)).join('\n')}\n`);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const answers = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(answers).toHaveLength(requests.length);
      expect(answers[0]).toEqual({ id: 'fire', match: true, output: { t: 60, c: 'n/a' } }); // no clientid: not over MQTT
      expect(answers[1]).toEqual({ id: 'no-fire', match: false });
      expect(answers[2]).toEqual({ id: 'mqtt', match: true, output: 'sensor-7' });
      expect(answers[3]!['id']).toBe('bad-sql');
      expect(answers[3]!['error']).toMatch(/^sql:1:8: expected .+, found 'FROM'$/);
      expect(answers[4]).toEqual({ id: 'bytes', match: true, output: { b: 'AQID' } });
      expect(answers[5]).toEqual({ id: 'in', match: true, output: true, template: 'to/1' });
    },
    CHILD_TIMEOUT_MS,
  );

  test(
    'rules check prints file:line:column: message and exits 1',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kiot-cli-check-'));
      try {
        await writeFile(join(dir, 'good.sql'), "CREATE RULE good AS SELECT * FROM 'a/+' DO republish(topic = 'b/${topic(2)}');\n");
        await writeFile(join(dir, 'bad.sql'), "CREATE RULE bad\nAS SELECT uppercase(a) FROM 'a' DO republish(topic = 'x');\n");
        const kiot = runKiot(['rules', 'check', dir]);
        const code = await kiot.exited;
        // 'exit' can come before the last stdout line is read; the readline in runKiot ends with the stream.
        const out = kiot.child.stdout!;
        if (!out.readableEnded) await once(out, 'end');
        expect(code).toBe(1);
        expect(kiot.stdout).toEqual([`${join(dir, 'bad.sql')}:2:11: unknown function uppercase()`]);
        expect(kiot.stderr()).toContain('checked 2 rules in 2 files: 1 problem');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    CHILD_TIMEOUT_MS,
  );
  test(
    'rules check: a bare SELECT says what a rule file holds; files that are not rules are not counted',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kiot-cli-bare-'));
      try {
        await writeFile(join(dir, 'bare.sql'), "SELECT * FROM 'a'\n");
        await writeFile(join(dir, 'notes.txt'), 'not a rule\n');
        const kiot = runKiot(['rules', 'check', dir]);
        const code = await kiot.exited;
        const out = kiot.child.stdout!;
        if (!out.readableEnded) await once(out, 'end');
        expect(code).toBe(1);
        expect(kiot.stdout).toEqual([
          `${join(dir, 'bare.sql')}:1:1: a rule file holds CREATE RULE <name> AS SELECT ... FROM '<topic filter>' DO <action>(...); blocks, each ended by ';'; found a bare SELECT`,
        ]);
        expect(kiot.stderr()).toContain('checked 0 rules in 1 file: 1 problem');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    CHILD_TIMEOUT_MS,
  );
});
