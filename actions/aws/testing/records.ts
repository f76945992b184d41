/** Test helpers shared by the action tests of this folder family. */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { silentLogger, systemClock, type ActionRecord, type ParamsSchema } from '../../../core/index.js';
import { paramProblems } from '../../runtime/params.js';
import type { ActionDeps } from '../../runtime/deps.js';

/** A record whose params are the action's (rendered) parameters `params`. */
export function testRecord<P>(output: unknown, params: P, i = 0): ActionRecord<P> {
  return {
    output,
    params,
    ruleName: 'test_rule',
    topic: `devices/d${i}/telemetry`,
    clientId: `d${i}`,
    messageId: `m${i}`,
    payload: Buffer.from(JSON.stringify(output ?? null)),
    receivedAt: 1_700_000_000_000 + i,
  };
}

/** The deps the AWS-API kinds take, with the AWS SDK's own settings (each test passes its endpoint in the definition's options). */
export const testDeps = (): Pick<ActionDeps, 'logger' | 'clock' | 'aws'> => ({ logger: silentLogger(), clock: systemClock, aws: { dynamodb: {}, s3: {}, elasticsearch: {} } });

export const signal = (): AbortSignal => new AbortController().signal;

/** A loopback port with nothing listening on it (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A server that accepts connections and never answers: a stalled target. */
export async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The problems `schema` finds in `params`, as their messages ([] when valid). */
export function problemsOf(schema: ParamsSchema<unknown>, params: Record<string, unknown>): string[] {
  try {
    schema.parse(params);
    return [];
  } catch (err) {
    return paramProblems(err).map((p) => p.message);
  }
}

/** Client settings pointing at a local wire-protocol server (core/testing/aws-service.ts), with its test credentials. */
export const serverSettings = (server: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } }, requestTimeoutMs = 5_000) => ({
  endpoint: server.endpoint,
  region: server.region,
  credentials: server.credentials,
  requestTimeoutMs,
});

/** What writeBatch rejected with, or undefined when it resolved. */
export const outcomeOf = (p: Promise<void>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);
