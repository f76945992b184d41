/**
 * `npm run bench -- registry`: the registry's scale figure (issue 6, point 9). Loads 100,000
 * things, each with its own X.509 certificate (ACTIVE, RegisterCertificateWithoutCA) attached to
 * it and to one shared policy that uses `${iot:Connection.Thing.ThingName}`, straight into the
 * services over an EmbeddedLog in a temp dir (no HTTP), then measures:
 *
 * - connect-time authorization decisions per second: what the gateway asks on every CONNECT
 *   (`devices.connect(fingerprint, clientId, address)`: certificate lookup by fingerprint,
 *   status, attachments, thing, compiled policies, `iot:Connect`), over certificates in random
 *   order, so the certificate-fields cache (10,000 entries) misses as it would in a fleet;
 * - the same over 5,000 devices, which fit that cache, to show what a miss costs;
 * - publish decisions per second on a connected session (`iot:Publish`), for scale;
 * - memory per thing: heap growth while loading (after a GC on both sides) divided by the count,
 *   printed as a progress line (the report's table has no memory column).
 *
 * Loading goes straight onto `iot.registry` (the records the services write, shaped after one
 * thing and one certificate made through them) in batches, and the services pick them up from
 * the log as they would another process's writes. Making 100,000 distinct certificates takes
 * minutes (about 2 ms each here), so 1,000 real ones (P-256, one key) are made and each
 * record carries one of them with its own id: the lookup is by id, and a cache miss parses the
 * record's PEM, so decisions cost what they would with distinct certificates.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, randomUUID, webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openThingRegistry } from '../api/index.js';
import { EmbeddedLog, TOPICS, silentLogger } from '../core/index.js';
import { SECURITY_KEYS, createSecurityService, thingsDirectory } from '../registry/index.js';
import { collectGarbage } from './gc.js';
import { measure, type Benchmark, type BenchResult } from './report.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const THINGS = 100_000;
/** Records per append while loading. */
const APPEND_BATCH = 1_000;
/** Distinct real certificates; records reuse them (see the header). */
const PEM_POOL = 1_000;
const MEASURE_MS = 3_000;
const ARN = 'arn:aws:iot:*:*:';
const THING = '${iot:Connection.Thing.ThingName}';
const FLEET_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}client/${THING}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: [`${ARN}topic/${THING}/*`, `${ARN}topic/$aws/things/${THING}/shadow/*`] },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${ARN}topicfilter/${THING}/*`, `${ARN}topicfilter/$aws/things/${THING}/shadow/*`] },
  ],
});

/** Runs the measurement with `count` things (100,000 for the report; fewer for a quick check). */
export async function runRegistryBenchmark(count: number, progress: (line: string) => void): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-registry-'));
  const logger = silentLogger();
  const log = await EmbeddedLog.open({ dataDir: dir, logger });
  const config = { region: undefined, accountId: '123456789012' };
  const registry = await openThingRegistry(config, { log, logger });
  const service = createSecurityService(config, { log, logger, things: thingsDirectory(registry), registryStore: registry.store });
  try {
    const security = await service.start();
    await security.policies.createPolicy('fleet', FLEET_POLICY);

    // The record shapes the services write, taken from one thing and one certificate made through them.
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
    const keys = await webcrypto.subtle.generateKey(alg, false, ['sign', 'verify']);
    const pool: string[] = [];
    for (let i = 0; i < PEM_POOL; i++) {
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: `01${randomBytes(8).toString('hex')}`,
        name: `CN=thing-${i}`,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.UTC(2049, 11, 31)),
        keys,
        signingAlgorithm: alg,
      });
      pool.push(cert.toString('pem'));
    }
    await registry.createThing({ thingName: 'thing-0', attributes: { site: 'site-0' } });
    const protoThing = registry.thing('thing-0')!;
    const protoCert = await security.certificates.registerCertificateWithoutCa({ certificatePem: pool[0], status: 'ACTIVE' });
    const protoRecord = security.certificates.describeCertificate(protoCert.certificateId);
    const certArn = (id: string) => security.certificates.certificateArn(id);

    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    const ids: string[] = new Array<string>(count);
    progress(`loading ${count.toLocaleString('en-US')} things, certificates and attachments onto iot.registry`);
    const json = (v: object) => Buffer.from(JSON.stringify(v));
    const started = Date.now();
    let lastReport = started;
    for (let start = 0; start < count; start += APPEND_BATCH) {
      const records: { key: string; value: Buffer }[] = [];
      for (let i = start; i < Math.min(count, start + APPEND_BATCH); i++) {
        const thingName = `thing-${i}`;
        const pem = pool[i % PEM_POOL]!;
        const id = createHash('sha256').update(pem).update(String(i)).digest('hex');
        ids[i] = id;
        const arn = certArn(id);
        if (i > 0) records.push({ key: `thing/${thingName}`, value: json({ ...protoThing, thingName, thingId: randomUUID(), attributes: { site: `site-${i % 50}` } }) });
        records.push(
          { key: SECURITY_KEYS.cert(id), value: json({ ...protoRecord, id, pem, generationId: randomUUID() }) },
          { key: SECURITY_KEYS.policyTarget('fleet', arn), value: json({}) },
          { key: SECURITY_KEYS.thingPrincipal(thingName, arn), value: json({ type: 'NON_EXCLUSIVE_THING' }) },
        );
      }
      await log.append(TOPICS.registry, records);
      const done = Math.min(count, start + APPEND_BATCH);
      if (Date.now() - lastReport > 2_000 || done === count) {
        lastReport = Date.now();
        progress(`appended: ${done.toLocaleString('en-US')}/${count.toLocaleString('en-US')} things (${Math.round(done / ((Date.now() - started) / 1000)).toLocaleString('en-US')}/s)`);
      }
    }
    // The services read the log like any other writer's records: wait until they have them all.
    const last = count - 1;
    const deadline = Date.now() + 600_000;
    while (!(registry.thing(`thing-${last}`) && security.principals.authenticateCertificate(ids[last]!)?.things.length)) {
      if (Date.now() > deadline) throw new Error('registry benchmark: the services did not catch up with the log');
      await new Promise((r) => setTimeout(r, 50));
    }
    progress(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    collectGarbage();
    const bytesPerThing = (process.memoryUsage().heapUsed - heapBefore) / count;
    progress(`memory per thing (thing, certificate, 2 attachments, indexes): ${Math.round(bytesPerThing).toLocaleString('en-US')} bytes of heap`);

    // Random order: a fleet reconnecting does not arrive in the order it was registered.
    const order = Array.from({ length: 10_000 }, () => Math.floor(Math.random() * count));
    let next = 0;
    const connectOnce = () => {
      const i = order[next++ % order.length]!;
      const result = security.devices.connect(ids[i]!, `thing-${i}`, '10.0.0.7:51234');
      if (!result.ok) throw new Error(`registry benchmark: thing-${i} was refused (${result.detail})`);
    };
    // Denials must be decided too, or the figure would measure only the happy path's shortcuts.
    const denied = security.devices.connect(ids[0]!, 'thing-1', '10.0.0.7:51234');
    if (denied.ok) throw new Error('registry benchmark: a certificate connected with another thing\'s client id');
    const BATCH = 200;
    const connects = await measure(MEASURE_MS, BATCH, () => {
      for (let k = 0; k < BATCH; k++) connectOnce();
    });
    progress(`connect decisions: ${Math.round(connects).toLocaleString('en-US')}/s`);
    // The same over 5,000 devices (what fits the certificate-fields cache): the gap is the cost of
    // parsing a certificate's fields on a miss (about 0.3 ms), which almost every connect pays in
    // a fleet larger than the cache.
    for (let k = 0; k < order.length; k++) order[k] = k % Math.min(5_000, count);
    for (let k = 0; k < order.length; k++) connectOnce(); // fill the cache first
    const warm = await measure(MEASURE_MS, BATCH, () => {
      for (let k = 0; k < BATCH; k++) connectOnce();
    });
    progress(`connect decisions, 5,000 devices cycling: ${Math.round(warm).toLocaleString('en-US')}/s`);

    const session = security.devices.connect(ids[1]!, 'thing-1', '10.0.0.7:51234');
    if (!session.ok) throw new Error('registry benchmark: thing-1 was refused');
    const topics = ['thing-1/telemetry', '$aws/things/thing-1/shadow/update', 'thing-2/telemetry'];
    const publishes = await measure(MEASURE_MS, 3 * BATCH, () => {
      for (let k = 0; k < BATCH; k++) for (const t of topics) session.session.canPublish(t);
    });
    return [
      { name: `registry connect decisions (${count.toLocaleString('en-US')} things)`, messagesPerSec: connects },
      { name: 'registry connect decisions (5,000 devices cycling)', messagesPerSec: warm },
      { name: 'registry publish decisions (one session)', messagesPerSec: publishes },
    ];
  } finally {
    await service.stop();
    await registry.close();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const registryBenchmark: Benchmark = {
  name: 'registry',
  summary: 'connect-time authorization decisions/s with 100,000 things and certificates loaded; memory per thing',
  run: (progress) => runRegistryBenchmark(THINGS, progress),
};
