/**
 * `npm run bench -- provisioning` (issue 15, point 2): devices provisioned per second by claim
 * over the whole fleet provisioning MQTT flow, against kiot as `kiot up` runs it (templates,
 * policies and the claim certificate made with `@aws-sdk/client-iot`), driven by devices in
 * another process (`provisioning-load.ts`: mqtt.js over mutual TLS with the claim certificate,
 * a fixed number in flight):
 *
 * - baseline: claim devices that connect over mutual TLS, subscribe to the four reply topics
 *   and leave (what every provisioning costs before its first request);
 * - CreateCertificateFromCsr + RegisterThing (the device's own EC P-256 key; kiot signs);
 * - the same with a pre-provisioning hook (its function served by the load process, through
 *   `--lambda-endpoint`);
 * - CreateKeysAndCertificate + RegisterThing (kiot makes an RSA 2048 key pair per device).
 *
 * A row is printed only after its run is verified: every device accepted, then as many things
 * with the run's prefix in the registry, each with exactly one certificate, that certificate
 * ACTIVE; and the hook called once per device. The group also runs the custom-auth benchmark.
 */
import {
  AttachPolicyCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreateProvisioningTemplateCommand,
  DescribeCertificateCommand,
  IoTClient,
  ListThingPrincipalsCommand,
  ListThingsCommand,
} from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child } from './child.js';
import { startBenchPlatform } from './platform.js';
import type { ProvisionReply, ProvisionRequest, ProvisionRun } from './provisioning-load.js';
import type { Benchmark, BenchResult } from './report.js';

const IN_FLIGHT = 16;
/** Each run is measured this many times and the best kept (the first round also warms the JIT). */
const ROUNDS = 2;
const RUNS: readonly { readonly mode: ProvisionRun['mode']; readonly template: string; readonly count: number; readonly label: string }[] = [
  { mode: 'connect', template: 'bench', count: 400, label: 'claim devices connect over mutual TLS and subscribe (no request)' },
  { mode: 'csr', template: 'bench', count: 300, label: 'CreateCertificateFromCsr + RegisterThing' },
  { mode: 'csr', template: 'bench-hooked', count: 300, label: 'CreateCertificateFromCsr + RegisterThing, with a pre-provisioning hook' },
  { mode: 'keys', template: 'bench', count: 100, label: 'CreateKeysAndCertificate (RSA 2048 by kiot) + RegisterThing' },
];
const REPLY_TIMEOUT_MS = 600_000;
const HOOK = 'bench-provisioning-hook';
const ARN = 'arn:aws:iot:*:*:';

const CLAIM_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: '*' },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: [`${ARN}topic/$aws/certificates/create/*`, `${ARN}topic/$aws/certificates/create-from-csr/*`, `${ARN}topic/$aws/provisioning-templates/bench*/provision/*`] },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${ARN}topicfilter/$aws/certificates/create/*`, `${ARN}topicfilter/$aws/certificates/create-from-csr/*`, `${ARN}topicfilter/$aws/provisioning-templates/bench*/provision/*`] },
  ],
});

const TEMPLATE = JSON.stringify({
  Parameters: { DeviceName: { Type: 'String' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
  Resources: {
    thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'DeviceName' }, AttributePayload: { fleet: 'bench' } } },
    certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'Active' } },
    policy: {
      Type: 'AWS::IoT::Policy',
      Properties: { PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:Connect', 'iot:Publish'], Resource: [`${ARN}client/\${iot:Connection.Thing.ThingName}`, `${ARN}topic/devices/\${iot:Connection.Thing.ThingName}/*`] }] } },
    },
  },
  DeviceConfiguration: { Topic: { 'Fn::Join': ['/', ['devices', { Ref: 'DeviceName' }, 'telemetry']] } },
});

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

type Platform = Awaited<ReturnType<typeof startBenchPlatform>>;

async function run(progress: (line: string) => void): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-provisioning-'));
  await mkdir(join(dir, 'rules'));
  const load = new Child<ProvisionRequest, ProvisionReply>('provisioning-load', [], { label: 'provisioning benchmark: the load process', replyTimeoutMs: REPLY_TIMEOUT_MS });
  let platform: Platform | undefined;
  let iot: IoTClient | undefined;
  try {
    load.send({ type: 'serve', functionName: HOOK });
    const serving = await load.next();
    if (serving.type !== 'serving') throw new Error(`provisioning benchmark: unexpected reply ${serving.type} from the load process`);
    // AWS's one connect per second per client id is not what this measures; every device has its own id anyway.
    platform = await startBenchPlatform(dir, { lambdaEndpoint: serving.endpoint, maxConnectsPerSecondPerClientId: '0' }, progress);
    iot = new IoTClient({ endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`, region: 'us-east-1', credentials: fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' }) });
    return await measure(dir, platform, iot, load, progress);
  } finally {
    iot?.destroy();
    await load.stop();
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(dir: string, platform: Platform, iot: IoTClient, load: Child<ProvisionRequest, ProvisionReply>, progress: (line: string) => void): Promise<BenchResult[]> {
  await iot.send(new CreatePolicyCommand({ policyName: 'bench-claim', policyDocument: CLAIM_POLICY }));
  const claim = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  await iot.send(new AttachPolicyCommand({ policyName: 'bench-claim', target: claim.certificateArn! }));
  const template = { templateBody: TEMPLATE, enabled: true, provisioningRoleArn: 'arn:aws:iam::000000000000:role/provisioning', type: 'FLEET_PROVISIONING' as const };
  await iot.send(new CreateProvisioningTemplateCommand({ templateName: 'bench', ...template }));
  await iot.send(new CreateProvisioningTemplateCommand({ templateName: 'bench-hooked', ...template, preProvisioningHook: { targetArn: HOOK } }));
  const ca = (await readFile(join(dir, 'data', 'ca.pem'))).toString();
  const url = `mqtts://127.0.0.1:${platform.listeners.get('mqtts')}`;
  progress(`${IN_FLIGHT} devices in flight, MQTT 3.1.1 over mutual TLS with one claim certificate, JSON payloads, best of ${ROUNDS}; each run verified in the registry before its rate is printed`);
  const best = RUNS.map(() => 0);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [n, r] of RUNS.entries()) {
      const prefix = `bench-r${round}-${n}-${r.mode}`;
      load.send({ type: 'run', url, ca, claimCert: claim.certificatePem!, claimKey: claim.keyPair!.PrivateKey!, templateName: r.template, count: r.count, inFlight: IN_FLIGHT, prefix, mode: r.mode });
      const result = await load.next();
      if (result.type !== 'result') throw new Error(`provisioning benchmark: unexpected reply ${result.type} from the load process`);
      if (result.done !== r.count) throw new Error(`provisioning benchmark: ${r.label}: ${result.failed} of ${r.count} devices failed (first: ${result.firstError})`);
      const expectedHookCalls = r.template === 'bench-hooked' ? r.count : 0;
      if (result.hookCalls !== expectedHookCalls) throw new Error(`provisioning benchmark: ${r.label}: the hook was called ${result.hookCalls} times, expected ${expectedHookCalls}`);
      // Verified before any rate is printed: the registry holds what the devices were told.
      if (r.mode !== 'connect') await verify(iot, prefix, r.count);
      const rate = result.done / result.seconds;
      progress(`round ${round + 1}: ${r.label}: ${fmt(rate)} devices/s (${fmt(result.done)} in ${result.seconds.toFixed(1)} s${r.mode === 'connect' ? '' : '; things, certificates and attachments verified'})`);
      best[n] = Math.max(best[n]!, rate);
    }
  }
  const baseline = `provisioning: ${RUNS[0]!.label}`;
  return RUNS.map((r, n) => (n === 0 ? { name: baseline, messagesPerSec: best[0]! } : { name: `provisioning: ${r.label}`, messagesPerSec: best[n]!, baseline, ratio: best[n]! / best[0]! }));
}

/** Every device of the run is a thing in the registry with exactly one principal, an ACTIVE certificate. */
async function verify(iot: IoTClient, prefix: string, count: number): Promise<void> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await iot.send(new ListThingsCommand({ maxResults: 250, ...(nextToken ? { nextToken } : {}) }));
    for (const t of page.things ?? []) if (t.thingName!.startsWith(`${prefix}-`)) names.push(t.thingName!);
    nextToken = page.nextToken;
  } while (nextToken);
  if (names.length !== count) throw new Error(`provisioning benchmark: ${prefix}: ${names.length} things in the registry, expected ${count}`);
  const certificates = new Set<string>();
  for (const thingName of names) {
    const principals = (await iot.send(new ListThingPrincipalsCommand({ thingName }))).principals ?? [];
    if (principals.length !== 1) throw new Error(`provisioning benchmark: thing ${thingName} has ${principals.length} principals, expected 1`);
    certificates.add(principals[0]!);
  }
  if (certificates.size !== count) throw new Error(`provisioning benchmark: ${prefix}: ${certificates.size} distinct certificates for ${count} things`);
  for (const arn of certificates) {
    const status = (await iot.send(new DescribeCertificateCommand({ certificateId: arn.slice(arn.lastIndexOf('/') + 1) }))).certificateDescription?.status;
    if (status !== 'ACTIVE') throw new Error(`provisioning benchmark: certificate ${arn} is ${status}, expected ACTIVE`);
  }
}

export const provisioningBenchmark: Benchmark = {
  name: 'provisioning',
  summary: 'devices provisioned per second by claim over the fleet provisioning MQTT API (CSR, hook, kiot-made keys), against claim-certificate connects (devices per second in the msgs/s column)',
  run,
};
