/**
 * The Eclipse Paho MQTT interoperability suite (3.1.1: `client_test.py`, 5.0: `client_test5.py`;
 * vendored unchanged in ./paho, see its README) against a throw-away `kiot up`, as a broker
 * conformance check. Anonymous loopback clients run under a policy that refuses
 * `test/nosubscribe`, which is how the suite expects a broker to show a refused subscription.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startKiot, type KiotProcess } from '../../cli/testing.js';

const RUNNER = fileURLToPath(new URL('./paho/run.py', import.meta.url));
const SUITE_TIMEOUT_MS = 420_000;

/**
 * Tests kiot does not pass, and why. `test_subscribe_failure` (5.0): kiot refuses the
 * subscription with reason code 0x87 "Not authorized", as AWS IoT does and MQTT 5 §3.9.3
 * allows; the suite's client accepts only 0x80 there.
 */
const KNOWN_FAILURES: Record<string, readonly string[]> = {
  client_test: [],
  client_test5: ['client_test5.Test.test_subscribe_failure'],
};

const ANONYMOUS_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: ['iot:Connect', 'iot:Publish', 'iot:Receive', 'iot:Subscribe'], Resource: '*' },
    { Effect: 'Deny', Action: 'iot:Subscribe', Resource: 'arn:aws:iot:*:*:topicfilter/test/nosubscribe' },
  ],
};

let dir: string;
let kiot: KiotProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-paho-'));
  await writeFile(join(dir, 'anonymous.json'), JSON.stringify(ANONYMOUS_POLICY));
  // The suite publishes in bursts from one connection and reconnects a client id at once: AWS's rate quotas are off,
  // as on the brokers it was written for; and it expects a broker whose longest keep-alive is 60 s (test_server_keep_alive).
  kiot = await startKiot(
    [
      '--anonymous-policy', join(dir, 'anonymous.json'),
      '--max-publishes-per-second-per-connection', '0',
      '--max-bytes-per-second-per-connection', '0',
      '--max-connects-per-second-per-client-id', '0',
      '--max-keep-alive-sec', '60',
      '--log-level', 'warn',
    ],
    { cwd: dir, timeoutMs: 60_000 },
  );
}, 90_000);

afterAll(async () => {
  kiot?.child.kill('SIGTERM');
  await kiot?.exited;
  await rm(dir, { recursive: true, force: true });
});

/** Runs one Paho module; resolves with the ids of the tests that passed and of those that did not. */
function runSuite(module: string, port: string): Promise<{ passed: string[]; failed: string[]; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [RUNNER, module, port], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('python3 is needed to run the Paho interoperability suite: apt-get install python3 (.ci/run does)') : err),
    );
    child.once('exit', () => {
      const lines = output.split('\n');
      const ids = (result: string) => lines.filter((l) => l.startsWith(`${result} ${module}.`)).map((l) => l.slice(result.length + 1).trim());
      resolve({ passed: ids('PASS'), failed: [...ids('FAIL'), ...ids('ERROR')], output });
    });
  });
}

describe('Eclipse Paho interoperability suite against kiot', () => {
  let total = 0;
  let passed = 0;

  for (const module of ['client_test', 'client_test5'] as const) {
    test(
      `${module}: every test passes but the known ones`,
      async () => {
        const port = kiot.listeners.get('mqtt')!.split(':').pop()!;
        const result = await runSuite(module, port);
        total += result.passed.length + result.failed.length;
        passed += result.passed.length;
        expect(result.passed.length + result.failed.length, result.output.slice(-2000)).toBeGreaterThan(0);
        expect(result.failed.sort(), result.output.slice(-4000)).toEqual([...KNOWN_FAILURES[module]!].sort());
      },
      SUITE_TIMEOUT_MS,
    );
  }

  test('at least 36 of the 37 tests pass', () => {
    expect(total).toBe(37);
    expect(passed).toBeGreaterThanOrEqual(36);
  });
});
