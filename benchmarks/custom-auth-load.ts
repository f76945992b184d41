/**
 * The load process of `benchmarks/custom-auth.ts`: opens MQTT connections with mqtt.js as fast
 * as a fixed number in flight allows, each with its own client id, waits for CONNACK, and closes
 * it. Usernames (and their token signatures) are made before the clock starts, so the rate is
 * the gateway's. Every connection must be accepted; the reply counts them.
 */
import { sign } from 'node:crypto';
import mqtt from 'mqtt';
import { serveParent } from './child.js';

export interface ConnectRun {
  readonly type: 'run';
  readonly url: string;
  readonly count: number;
  readonly inFlight: number;
  readonly prefix: string;
  /** `anonymous`: no username; `shared`: one signed token for every connection; `distinct`: a signed token per connection. */
  readonly credentials: 'anonymous' | 'shared' | 'distinct';
  readonly authorizerName: string;
  readonly tokenKeyName: string;
  /** PEM private key the tokens are signed with. */
  readonly privateKey: string;
}

export interface ConnectResult {
  readonly type: 'result';
  readonly accepted: number;
  readonly refused: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
}

export type ConnectReply = ConnectResult;

function username(run: ConnectRun, token: string): string {
  const signature = sign('sha256', Buffer.from(token), run.privateKey).toString('base64');
  return `bench?x-amz-customauthorizer-name=${run.authorizerName}&x-amz-customauthorizer-signature=${encodeURIComponent(signature)}&${run.tokenKeyName}=${token}`;
}

async function connectOnce(url: string, clientId: string, user: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { clientId, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000, ...(user !== undefined ? { username: user, password: 'bench' } : {}) });
    const done = (error: string | undefined) => {
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      resolve(error);
    };
    client.once('connect', () => done(undefined));
    client.once('error', (err) => done(err.message));
    client.once('close', () => done('closed before CONNACK'));
  });
}

async function run(request: ConnectRun): Promise<ConnectResult> {
  const shared = request.credentials === 'shared' ? username(request, `${request.prefix}-shared`) : undefined;
  const users: (string | undefined)[] = [];
  for (let i = 0; i < request.count; i++) users.push(request.credentials === 'distinct' ? username(request, `${request.prefix}-${i}`) : shared);
  let next = 0;
  let accepted = 0;
  let refused = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const worker = async () => {
    while (next < request.count) {
      const i = next++;
      const error = await connectOnce(request.url, `${request.prefix}-${i}`, users[i]);
      if (error === undefined) accepted++;
      else {
        refused++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: request.inFlight }, worker));
  return { type: 'result', accepted, refused, firstError, seconds: (performance.now() - started) / 1000 };
}

serveParent<ConnectRun>(run);
