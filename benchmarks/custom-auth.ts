/**
 * `npm run bench -- custom-auth` (issue 15, point 7; to fold into `provisioning`): MQTT connects
 * per second through a custom authorizer, against kiot as `kiot up` runs it (the authorizer made
 * with `@aws-sdk/client-iot`, its function on a local Lambda Invoke server reached through
 * `--lambda-endpoint`), driven by mqtt.js from another process (`custom-auth-load.ts`, which
 * serves the function too, so that kiot's process holds only kiot):
 *
 * - anonymous connects on the same listener: the baseline (CONNECT, session, CONNACK, close);
 * - custom-auth connects with one shared signed token: after the first, every answer comes from
 *   the cache (signature verified, no function call);
 * - custom-auth connects with a distinct signed token each: every connect verifies a signature
 *   and invokes the function over HTTP.
 * A row is printed only after its run is verified: every connect accepted, and the function
 * called exactly as often as the cache allows (once for the shared token, once per connect for
 * distinct ones).
 */
import { CreateAuthorizerCommand, IoTClient } from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child } from './child.js';
import type { ConnectReply, ConnectRequest } from './custom-auth-load.js';
import { startBenchPlatform } from './platform.js';
import type { Benchmark, BenchResult } from './report.js';

const CONNECTS = 2_000;
const IN_FLIGHT = 32;
const ROUNDS = 2;
const REPLY_TIMEOUT_MS = 300_000;
const AUTHORIZER = 'bench-tokens';
const FUNCTION = 'bench-authorizer';
const TOKEN_KEY = 'token';
const POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/${iot:ClientId}' },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: 'arn:aws:iot:*:*:topic/bench/${iot:ClientId}/*' },
  ],
});

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function run(progress: (line: string) => void): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-custom-auth-'));
  await mkdir(join(dir, 'rules'));
  const load = new Child<ConnectRequest, ConnectReply>('custom-auth-load', [], { label: 'custom-auth benchmark: the load process', replyTimeoutMs: REPLY_TIMEOUT_MS });
  let platform: Platform | undefined;
  let iot: IoTClient | undefined;
  try {
    load.send({ type: 'serve', functionName: FUNCTION, policy: POLICY });
    const serving = await load.next();
    if (serving.type !== 'serving') throw new Error(`custom-auth benchmark: unexpected reply ${serving.type} from the load process`);
    platform = await startBenchPlatform(dir, { lambdaEndpoint: serving.endpoint, maxConnectsPerSecondPerClientId: '0' }, progress);
    iot = new IoTClient({
      endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`,
      region: 'us-east-1',
      credentials: fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' }),
    });
    return await measureConnects(platform, iot, load, progress);
  } finally {
    iot?.destroy();
    await load.stop();
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

type Platform = Awaited<ReturnType<typeof startBenchPlatform>>;

async function measureConnects(platform: Platform, iot: IoTClient, load: Child<ConnectRequest, ConnectReply>, progress: (line: string) => void): Promise<BenchResult[]> {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  await iot.send(new CreateAuthorizerCommand({ authorizerName: AUTHORIZER, authorizerFunctionArn: FUNCTION, tokenKeyName: TOKEN_KEY, tokenSigningPublicKeys: { bench: keys.publicKey } }));
  const url = `mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`;
  const best = { anonymous: 0, shared: 0, distinct: 0 };
  progress(`${fmt(CONNECTS)} connects per run, ${IN_FLIGHT} in flight, MQTT 5 over TCP, best of ${ROUNDS}; RSA-2048 signed tokens; the function served from the load process`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const credentials of ['anonymous', 'shared', 'distinct'] as const) {
      const prefix = `bench-r${round}-${credentials}`;
      load.send({ type: 'run', url, count: CONNECTS, inFlight: IN_FLIGHT, prefix, credentials, authorizerName: AUTHORIZER, tokenKeyName: TOKEN_KEY, privateKey: keys.privateKey });
      const r = await load.next();
      if (r.type !== 'result') throw new Error(`custom-auth benchmark: unexpected reply ${r.type} from the load process`);
      // Verified before any rate is printed: every connect accepted, and the function called as the cache allows.
      if (r.accepted !== CONNECTS) throw new Error(`custom-auth benchmark: ${credentials}: ${r.refused} of ${CONNECTS} connects refused (first: ${r.firstError})`);
      const expectedCalls = credentials === 'anonymous' ? 0 : credentials === 'shared' ? 1 : CONNECTS;
      if (r.functionCalls !== expectedCalls) throw new Error(`custom-auth benchmark: ${credentials}: the function was called ${r.functionCalls} times, expected ${expectedCalls}`);
      const rate = r.accepted / r.seconds;
      best[credentials] = Math.max(best[credentials], rate);
      progress(`round ${round + 1}: ${credentials}: ${fmt(rate)} connects/s; ${fmt(r.accepted)} accepted, function called ${r.functionCalls} times (verified)`);
    }
  }
  const baseline = 'custom-auth: anonymous connects (no authorizer)';
  return [
    { name: baseline, messagesPerSec: best.anonymous },
    { name: 'custom-auth: connects, cached answer (one token)', messagesPerSec: best.shared, baseline, ratio: best.shared / best.anonymous },
    { name: 'custom-auth: connects, no cache (a token each, function invoked)', messagesPerSec: best.distinct, baseline, ratio: best.distinct / best.anonymous },
  ];
}

export const customAuthBenchmark: Benchmark = {
  name: 'custom-auth',
  summary: 'MQTT connects per second through a custom authorizer, with and without its answer cache, against anonymous connects (connects per second in the msgs/s column)',
  run,
};
