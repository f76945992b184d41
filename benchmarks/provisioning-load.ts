/**
 * The load process of `benchmarks/provisioning.ts`, outside kiot's process: devices that hold
 * only the fleet's claim certificate connect over mutual TLS with mqtt.js, a fixed number at a
 * time, each with its own client id, and run the fleet provisioning MQTT API (developer guide,
 * "Device provisioning MQTT API") to its end:
 *
 *   connect → SUBSCRIBE the four reply topics → CreateKeysAndCertificate or CreateCertificateFromCsr
 *   → RegisterThing (parameter DeviceName) → DISCONNECT
 *
 * (`connect` mode stops after the SUBSCRIBE: the baseline). CSRs (EC P-256) are made before the
 * clock starts, so the rate is kiot's. It also serves the pre-provisioning hook's function (a
 * local Lambda Invoke server that allows every device), so that kiot's process holds only kiot.
 */
import mqtt from 'mqtt';
import { startLambdaServer, type LambdaServer } from '../core/testing/lambda-server.js';
import { makeCsr } from '../provisioning/testing/csr.js';
import { serveParent } from './child.js';

export interface ServeHook {
  readonly type: 'serve';
  readonly functionName: string;
}

export interface Serving {
  readonly type: 'serving';
  readonly endpoint: string;
}

export interface ProvisionRun {
  readonly type: 'run';
  readonly url: string;
  readonly ca: string;
  readonly claimCert: string;
  readonly claimKey: string;
  readonly templateName: string;
  readonly count: number;
  readonly inFlight: number;
  /** Client ids and device names are `<prefix>-<i>`. */
  readonly prefix: string;
  readonly mode: 'connect' | 'keys' | 'csr';
}

export interface ProvisionResult {
  readonly type: 'result';
  readonly done: number;
  readonly failed: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
  /** Hook invocations during the run. */
  readonly hookCalls: number;
}

export type ProvisionRequest = ServeHook | ProvisionRun;
export type ProvisionReply = Serving | ProvisionResult;

let hookServer: LambdaServer | undefined;

async function serve(request: ServeHook): Promise<Serving> {
  hookServer ??= await startLambdaServer();
  hookServer.handle(request.functionName, () => ({ allowProvisioning: true }));
  return { type: 'serving', endpoint: hookServer.endpoint };
}

/** One device's whole flow; resolves with an error message, or undefined when it was provisioned. */
function provisionOne(run: ProvisionRun, clientId: string, csr: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const client = mqtt.connect(run.url, { clientId, ca: run.ca, cert: run.claimCert, key: run.claimKey, servername: 'localhost', rejectUnauthorized: true, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 30_000 });
    const create = csr === undefined ? '$aws/certificates/create/json' : '$aws/certificates/create-from-csr/json';
    const provision = `$aws/provisioning-templates/${run.templateName}/provision/json`;
    let settled = false;
    const done = (error: string | undefined) => {
      if (settled) return;
      settled = true;
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      resolve(error);
    };
    client.once('error', (err) => done(err.message));
    client.once('close', () => done('closed before the flow ended'));
    client.on('message', (topic, payload) => {
      if (topic.endsWith('/rejected')) return done(`${topic}: ${payload.toString()}`);
      if (topic === `${create}/accepted`) {
        const token = (JSON.parse(payload.toString()) as { certificateOwnershipToken: string }).certificateOwnershipToken;
        client.publish(provision, JSON.stringify({ certificateOwnershipToken: token, parameters: { DeviceName: clientId } }), { qos: 1 });
      } else if (topic === `${provision}/accepted`) done(undefined);
    });
    client.once('connect', () => {
      client.subscribe([`${create}/accepted`, `${create}/rejected`, `${provision}/accepted`, `${provision}/rejected`], { qos: 1 }, (err) => {
        if (err) return done(`subscribe: ${err.message}`);
        if (run.mode === 'connect') return done(undefined);
        client.publish(create, csr === undefined ? '{}' : JSON.stringify({ certificateSigningRequest: csr }), { qos: 1 });
      });
    });
  });
}

async function run(request: ProvisionRun): Promise<ProvisionResult> {
  const csrs: string[] = [];
  if (request.mode === 'csr') for (let i = 0; i < request.count; i++) csrs.push(await makeCsr(`${request.prefix}-${i}`));
  const callsBefore = hookServer?.calls.length ?? 0;
  let next = 0;
  let done = 0;
  let failed = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const worker = async () => {
    while (next < request.count) {
      const i = next++;
      const error = await provisionOne(request, `${request.prefix}-${i}`, csrs[i]);
      if (error === undefined) done++;
      else {
        failed++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: request.inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { type: 'result', done, failed, firstError, seconds, hookCalls: (hookServer?.calls.length ?? 0) - callsBefore };
}

process.on('disconnect', () => void hookServer?.close());
serveParent<ProvisionRequest>((request) => (request.type === 'serve' ? serve(request) : run(request)));
