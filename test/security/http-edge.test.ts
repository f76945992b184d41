/**
 * The HTTP edge as a hostile client sees it (issue 9, points 1, 4, 5 and 6's API part): every
 * attack here succeeded before the fix. One platform runs in this process on loopback, as
 * `kiot up` runs it; the TLS test binds 0.0.0.0 and connects through 127.0.0.1 only.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { AttachPolicyCommand, CreateKeysAndCertificateCommand, CreatePolicyCommand, CreateThingCommand, DescribeThingCommand, IoTClient, ListThingsCommand } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { SignatureV4 } from '@smithy/signature-v4';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signRequest } from '../../actions/index.js';
import { register as registerAccessKeys } from '../../cli/commands/access-keys.js';
import type { CliIo } from '../../cli/commands/sql.js';
import { startKiot } from '../../cli/testing.js';
import { startPlatform, type RunningPlatform } from '../../cli/up.js';
import { TOPICS, loadConfig, silentLogger, type Log } from '../../core/index.js';
import { readEnvelopes } from '../../ingest/gateway/testing/harness.js';

let dir: string;
let platform: RunningPlatform;
let http: string;
let admin: { accessKeyId: string; secretAccessKey: string };
let iot: IoTClient;
const announced: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-http-edge-'));
  await mkdir(join(dir, 'rules'));
  // A rule on the attacked topics: if a refused publish reached the log, it would fire.
  await writeFile(join(dir, 'rules', 'edge.sql'), `CREATE RULE edge AS SELECT * FROM 'secret/#' DO republish(topic = 'fired/edge');`);
  const config = loadConfig({
    flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0' },
    env: {},
  });
  platform = await startPlatform(config, (line) => announced.push(line), silentLogger(), () => undefined);
  http = `http://127.0.0.1:${platform.listeners.get('http')}`;
  admin = await fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' })();
  iot = new IoTClient({ endpoint: http, region: 'us-east-1', credentials: admin, maxAttempts: 1 });
}, 60_000);

afterAll(async () => {
  iot?.destroy();
  await platform?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Every topic on iot.ingress right now (read up to the high-water marks). */
async function ingressTopics(log: Log): Promise<string[]> {
  const total = (await log.offsets(TOPICS.ingress)).reduce((n, p) => n + p.high - p.low, 0);
  return (await readEnvelopes(log, TOPICS.ingress, total)).map((e) => e.topic);
}

const data = (credentials: { accessKeyId: string; secretAccessKey: string }) => new IoTDataPlaneClient({ endpoint: http, region: 'us-east-1', credentials, maxAttempts: 1 });

/** The SDK's exception name and HTTP status of a failed call. */
async function failure(call: Promise<unknown>): Promise<[string, number | undefined]> {
  try {
    await call;
  } catch (err) {
    return [(err as Error).name, (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode];
  }
  throw new Error('expected the call to be refused');
}

async function signedFetch(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Response> {
  const url = `${http}${path}`;
  const signed = await signRequest({ method, url, headers, ...(body !== undefined ? { body: Buffer.from(body) } : {}) }, { service: 'iot', region: 'us-east-1', credentials: admin });
  return fetch(url, { method, headers: signed, ...(body !== undefined ? { body } : {}) });
}

describe('HTTP publish is authenticated', () => {
  test('an unsigned POST /topics is refused with 403, reaches no log and fires no rule', async () => {
    const res = await fetch(`${http}/topics/secret%2Funsigned?qos=1&retain=true`, { method: 'POST', body: '{"open":"door"}' });
    expect([res.status, res.headers.get('x-amzn-errortype')]).toEqual([403, 'MissingAuthenticationTokenException']);
    expect(await ingressTopics(platform.log)).not.toContain('secret/unsigned');
    // The rule is alive: a signed publish fires it, and it matched only that one.
    await data(admin).send(new PublishCommand({ topic: 'secret/signed', qos: 1, payload: Buffer.from('{"ok":1}') }));
    const listing = async () => (await (await signedFetch('GET', '/kiot/rules')).json()) as { rules: { name: string; counters: { matched: number } }[] };
    const deadline = Date.now() + 20_000;
    while ((await listing()).rules.find((r) => r.name === 'edge')!.counters.matched < 1) {
      if (Date.now() > deadline) throw new Error('the rule never fired on the signed publish');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await listing()).rules.find((r) => r.name === 'edge')!.counters.matched).toBe(1);
  }, 30_000);

  test('GET /kiot/* needs a signature; /health and /metrics stay open', async () => {
    const rules = await fetch(`${http}/kiot/rules`);
    expect([rules.status, rules.headers.get('x-amzn-errortype')]).toEqual([403, 'MissingAuthenticationTokenException']);
    expect((await fetch(`${http}/kiot/ca-certificate`)).status).toBe(403);
    expect((await signedFetch('GET', '/kiot/rules')).status).toBe(200);
    expect((await fetch(`${http}/health`)).status).toBe(200);
    expect((await fetch(`${http}/metrics`)).status).toBe(200);
  });

  test('a restricted key (kiot access-keys create --policy) publishes only where its policy allows', async () => {
    const policyFile = join(dir, 'telemetry-policy.json');
    await writeFile(
      policyFile,
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:*:*:topic/telemetry/*' },
          { Effect: 'Allow', Action: 'iot:RetainPublish', Resource: 'arn:aws:iot:*:*:topic/telemetry/kept' },
        ],
      }),
    );
    let stdout = '';
    const io: CliIo = { stdin: Readable.from(['']), stdout: new PassThrough().on('data', (d: Buffer) => (stdout += d.toString())), stderr: new PassThrough(), setExitCode: () => undefined };
    const program = new Command('kiot').exitOverride();
    registerAccessKeys(program, io);
    await program.parseAsync(['node', 'kiot', 'access-keys', 'create', '--policy', policyFile, '--description', 'telemetry only', '--endpoint', http, '--data-dir', join(dir, 'data')]);
    const restricted = JSON.parse(stdout) as { accessKeyId: string; secretAccessKey: string };
    const client = data(restricted);

    await client.send(new PublishCommand({ topic: 'telemetry/a', qos: 1, payload: Buffer.from('1') }));
    await client.send(new PublishCommand({ topic: 'telemetry/kept', qos: 1, retain: true, payload: Buffer.from('2') }));
    expect(await failure(client.send(new PublishCommand({ topic: 'secret/restricted', qos: 1, payload: Buffer.from('x') })))).toEqual(['ForbiddenException', 403]);
    expect(await failure(client.send(new PublishCommand({ topic: 'telemetry/b', qos: 1, retain: true, payload: Buffer.from('x') })))).toEqual(['ForbiddenException', 403]);
    const topics = await ingressTopics(platform.log);
    expect(topics).toEqual(expect.arrayContaining(['telemetry/a', 'telemetry/kept']));
    expect(topics).not.toContain('secret/restricted');
    expect(topics).not.toContain('telemetry/b');

    // Nothing else: no control plane, no minting a wider key.
    const restrictedIot = new IoTClient({ endpoint: http, region: 'us-east-1', credentials: restricted, maxAttempts: 1 });
    expect(await failure(restrictedIot.send(new CreateThingCommand({ thingName: 'by-restricted' })))).toEqual(['AccessDeniedException', 403]);
    restrictedIot.destroy();
    const mint = await fetch(`${http}/kiot/access-keys`, {
      method: 'POST',
      headers: await signRequest({ method: 'POST', url: `${http}/kiot/access-keys`, headers: {}, body: Buffer.from('{"policyDocument":"{}"}') }, { service: 'iot', region: 'us-east-1', credentials: restricted }),
      body: '{"policyDocument":"{}"}',
    });
    expect([mint.status, mint.headers.get('x-amzn-errortype')]).toEqual([403, 'AccessDeniedException']);
  }, 30_000);

  test('a device publishes on the https listener with its certificate, held to its policy; no certificate is refused', async () => {
    const cert = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await iot.send(
      new CreatePolicyCommand({
        policyName: 'https-device',
        policyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:*:*:topic/dev/*' }] }),
      }),
    );
    await iot.send(new AttachPolicyCommand({ policyName: 'https-device', target: cert.certificateArn }));
    const ca = await readFile(join(dir, 'data', 'ca.pem'));
    expect(announced).toContain(`ca ${join(dir, 'data', 'ca.pem')}`);
    const device = { cert: cert.certificatePem!, key: cert.keyPair!.PrivateKey! };
    const port = platform.listeners.get('https')!;

    expect(await httpsPost(port, '/topics/dev%2Fa?qos=1', 'ok', { ca, ...device })).toMatchObject({ status: 200 });
    expect(await httpsPost(port, '/topics/secret%2Fdevice?qos=1', 'x', { ca, ...device })).toMatchObject({ status: 403, type: 'ForbiddenException' });
    expect(await httpsPost(port, '/topics/dev%2Fb?qos=1&retain=true', 'x', { ca, ...device })).toMatchObject({ status: 403, type: 'ForbiddenException' });
    expect(await httpsPost(port, '/topics/dev%2Fc?qos=1', 'x', { ca })).toMatchObject({ status: 401, type: 'UnauthorizedException' });
    const topics = await ingressTopics(platform.log);
    expect(topics).toContain('dev/a');
    for (const refused of ['secret/device', 'dev/b', 'dev/c']) expect(topics).not.toContain(refused);
  }, 30_000);
});

describe('the body is signed', () => {
  test('UNSIGNED-PAYLOAD with a swapped body is refused, header-signed and presigned, and creates nothing', async () => {
    const url = `${http}/things/swapped`;
    const honest = JSON.stringify({ attributePayload: { attributes: { owner: 'alice' } } });
    const injected = JSON.stringify({ attributePayload: { attributes: { owner: 'mallory', admin: 'true' } } });
    const headers = await signRequest({ method: 'POST', url, headers: { 'content-type': 'application/json', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, body: Buffer.from(honest) }, { service: 'iot', region: 'us-east-1', credentials: admin });
    const swapped = await fetch(url, { method: 'POST', headers, body: injected });
    expect([swapped.status, swapped.headers.get('x-amzn-errortype')]).toEqual([403, 'InvalidSignatureException']);

    const signer = new SignatureV4({ service: 'iot', region: 'us-east-1', credentials: admin, sha256: Sha256 });
    const target = new URL(url);
    const presigned = await signer.presign({ method: 'POST', protocol: 'http:', hostname: target.hostname, port: Number(target.port), path: target.pathname, headers: { host: target.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, body: honest });
    const presignedUrl = `${http}${presigned.path}?${new URLSearchParams(presigned.query as Record<string, string>).toString().replace(/\+/g, '%20')}`;
    const presignedSwap = await fetch(presignedUrl, { method: 'POST', body: injected });
    expect([presignedSwap.status, presignedSwap.headers.get('x-amzn-errortype')]).toEqual([403, 'InvalidSignatureException']);
    expect(await failure(iot.send(new DescribeThingCommand({ thingName: 'swapped' })))).toEqual(['ResourceNotFoundException', 404]);

    // A presigned GET (how MQTT over WebSocket signs) carries no body and still works.
    const listing = await signer.presign({ method: 'GET', protocol: 'http:', hostname: target.hostname, port: Number(target.port), path: '/things', headers: { host: target.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    const get = await fetch(`${http}/things?${new URLSearchParams(listing.query as Record<string, string>).toString().replace(/\+/g, '%20')}`);
    expect(get.status).toBe(200);
  });
});

describe('request bodies are bounded', () => {
  test('a CreateTopicRule whose actions nest 50,000 levels deep gets 400, and the API keeps serving', async () => {
    const depth = 50_000;
    const body = `{"sql":"SELECT * FROM 'a'","actions":[{"republish":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}]}`;
    const res = await signedFetch('POST', '/rules/deep', body, { 'content-type': 'application/json' });
    expect([res.status, res.headers.get('x-amzn-errortype')]).toEqual([400, 'SerializationException']);
    expect((await iot.send(new ListThingsCommand({}))).things).toBeDefined();
  });
});

describe('beyond loopback, safe or loud', () => {
  test('on 0.0.0.0 the HTTP API serves TLS from the kiot CA, /metrics can need a signature, and plaintext listeners warn', async () => {
    const wide = join(dir, 'wide');
    const warnings: string[] = [];
    const lines: string[] = [];
    const config = loadConfig({
      flags: { dataDir: wide, rulesDir: join(dir, 'rules'), host: '0.0.0.0', httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0', metricsAuth: 'true' },
      env: {},
    });
    const exposed = await startPlatform(config, (line) => lines.push(line), silentLogger(), (line) => warnings.push(line));
    try {
      const port = exposed.listeners.get('http')!;
      expect(warnings.filter((w) => w.includes(' listener '))).toEqual([
        `warning: the mqtt listener 0.0.0.0:${exposed.listeners.get('mqtt')} is plaintext on a non-loopback address: MQTT traffic can be read on the network; devices should use mqtts`,
        `warning: the ws listener 0.0.0.0:${exposed.listeners.get('ws')} is plaintext on a non-loopback address: MQTT over WebSocket traffic can be read on the network; devices should use mqtts`,
      ]);
      const caPath = join(wide, 'ca.pem');
      expect(lines).toContain(`ca ${caPath}`);
      const ca = await readFile(caPath);
      // Plain HTTP no longer answers; HTTPS verified against ca.pem does, with AWS's clients.
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
      expect(await httpsGet(port, '/health', ca)).toMatchObject({ status: 200 });
      expect(await httpsGet(port, '/metrics', ca)).toMatchObject({ status: 403, type: 'MissingAuthenticationTokenException' });
      const key = await fromIni({ filepath: join(wide, 'credentials'), profile: 'default' })();
      const { Agent } = await import('node:https');
      const client = new IoTClient({ endpoint: `https://127.0.0.1:${port}`, region: 'us-east-1', credentials: key, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca }) } });
      expect((await client.send(new ListThingsCommand({}))).things).toEqual([]);
      client.destroy();
      const url = `https://127.0.0.1:${port}/metrics`;
      const signed = await signRequest({ method: 'GET', url, headers: {} }, { service: 'iot', region: 'us-east-1', credentials: key });
      expect(await httpsGet(port, '/metrics', ca, signed)).toMatchObject({ status: 200 });
    } finally {
      await exposed.stop();
    }
  }, 60_000);

  test('kiot up --host 0.0.0.0 --http-tls off prints one warning line per plaintext listener on stderr', async () => {
    const cwd = join(dir, 'cli');
    await mkdir(cwd);
    const kiot = await startKiot(['--host', '0.0.0.0', '--http-tls', 'off', '--log-level', 'silent'], { cwd });
    try {
      const lines = kiot.stderr().split('\n').filter((l) => l.startsWith('warning: ') && l.includes(' listener '));
      expect(lines.map((l) => /^warning: the (\w+) listener 0\.0\.0\.0:\d+ is plaintext/.exec(l)?.[1])).toEqual(['http', 'mqtt', 'ws']);
      expect((await fetch(`http://${kiot.listeners.get('http')!.replace('0.0.0.0', '127.0.0.1')}/health`)).status).toBe(200);
    } finally {
      kiot.child.kill('SIGTERM');
      await kiot.exited;
    }
  }, 60_000);
});

interface HttpsAnswer {
  readonly status: number;
  readonly type: string | undefined;
  readonly body: string;
}

function httpsCall(port: number, method: string, path: string, body: string | undefined, options: { ca: Buffer; cert?: string; key?: string; headers?: Record<string, string> }): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method, ca: options.ca, cert: options.cert, key: options.key, headers: options.headers ?? {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['x-amzn-errortype'] as string | undefined, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const httpsPost = (port: number, path: string, body: string, options: { ca: Buffer; cert?: string; key?: string }) => httpsCall(port, 'POST', path, body, options);
const httpsGet = (port: number, path: string, ca: Buffer, headers?: Record<string, string>) => httpsCall(port, 'GET', path, undefined, { ca, ...(headers ? { headers } : {}) });

/** SHA-256 in the shape @smithy/signature-v4 wants. */
class Sha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}
const toBuffer = (d: string | ArrayBuffer | ArrayBufferView): Buffer => (typeof d === 'string' ? Buffer.from(d) : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d));
