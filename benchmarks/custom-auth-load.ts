/**
 * The load process of `benchmarks/custom-auth.ts`, outside kiot's process: it serves the
 * authorizer function (a local Lambda Invoke server, so the function's own cost is not kiot's),
 * and opens MQTT connections with mqtt.js as fast as a fixed number in flight allows, each with
 * its own client id, waits for CONNACK, and closes it. Usernames (and their token signatures)
 * are made before the clock starts, so the rate is the gateway's. Every connection must be
 * accepted; the reply counts them and the function calls the run caused.
 */
import { sign } from 'node:crypto';
import mqtt from 'mqtt';
import { startLambdaServer, type LambdaServer } from '../core/testing/lambda-server.js';
import { serveParent } from './child.js';

/** Starts the function server: allows tokens starting `bench-` with `policy`. */
export interface ServeFunction {
  readonly type: 'serve';
  readonly functionName: string;
  readonly policy: string;
}

export interface Serving {
  readonly type: 'serving';
  readonly endpoint: string;
}

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
  /** Function invocations during the run. */
  readonly functionCalls: number;
}

export type ConnectRequest = ServeFunction | ConnectRun;
export type ConnectReply = Serving | ConnectResult;

let functionServer: LambdaServer | undefined;

async function serve(request: ServeFunction): Promise<Serving> {
  functionServer ??= await startLambdaServer();
  functionServer.handle(request.functionName, (event) => {
    const token = (event as { token?: string }).token ?? '';
    return { isAuthenticated: token.startsWith('bench-'), principalId: 'bench', policyDocuments: [request.policy], disconnectAfterInSeconds: 3600, refreshAfterInSeconds: 3600 };
  });
  return { type: 'serving', endpoint: functionServer.endpoint };
}

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
  const callsBefore = functionServer?.calls.length ?? 0;
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
  const seconds = (performance.now() - started) / 1000;
  return { type: 'result', accepted, refused, firstError, seconds, functionCalls: (functionServer?.calls.length ?? 0) - callsBefore };
}

process.on('disconnect', () => void functionServer?.close());
serveParent<ConnectRequest>((request) => (request.type === 'serve' ? serve(request) : run(request)));
