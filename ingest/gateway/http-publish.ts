/**
 * AWS IoT data-plane Publish over HTTP: `POST /topics/{topic}?qos=&retain=&contentType=
 * &responseTopic=&messageExpiry=`, MQTT 5 properties in `x-amz-mqtt5-*` headers, the body as
 * payload. It answers 200 only once the message is durable on `iot.ingress` (and, retained,
 * in `iot.retained`); every gateway then delivers it to its subscribers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createEnvelope,
  encodeEnvelope,
  envelopeHeaders,
  envelopeKey,
  TOPICS,
  type Log,
  type Logger,
  type Table,
  type UserProperty,
} from '../../core/index.js';
import { GATEWAY_TOPICS, isValidTopicName } from './topics.js';

/** The shape of `api/server.ts`'s Route (ingest does not import api/). */
export interface PublishRoute {
  readonly method: string;
  readonly path: RegExp;
  handle(req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void>;
}

/** AWS IoT's message size limit (128 KiB). */
export const MAX_HTTP_PAYLOAD_BYTES = 128 * 1024;

export interface PublishRouteDeps {
  readonly log: Log;
  readonly logger: Logger;
}

/** The Publish route; authentication (SigV4) is the API server's job (registry issue). */
export function createPublishRoute(deps: PublishRouteDeps): PublishRoute {
  const logger = deps.logger.child({ module: 'ingest.http-publish' });
  let ready: Promise<Table> | undefined;
  const retainedTable = () =>
    (ready ??= (async () => {
      await deps.log.ensureTopic({ name: TOPICS.ingress, partitions: 4 });
      return deps.log.openTable(GATEWAY_TOPICS.retained);
    })().catch((err) => {
      ready = undefined;
      throw err;
    }));
  return {
    method: 'POST',
    path: /^\/topics\/(?<topic>.+)$/,
    async handle(req, res, params) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      let topic: string;
      try {
        topic = decodeURIComponent(params.topic ?? '');
      } catch {
        return awsError(res, 400, 'InvalidRequestException', 'topic: not a valid percent-encoded string');
      }
      if (!isValidTopicName(topic)) return awsError(res, 400, 'InvalidRequestException', `topic: expected a topic name without + or #, received ${JSON.stringify(topic)}`);
      const qosText = url.searchParams.get('qos') ?? '0';
      if (qosText !== '0' && qosText !== '1') return awsError(res, 400, 'InvalidRequestException', `qos: expected 0 or 1, received ${JSON.stringify(qosText)}`);
      const retainText = url.searchParams.get('retain') ?? 'false';
      if (retainText !== 'true' && retainText !== 'false') return awsError(res, 400, 'InvalidRequestException', `retain: expected true or false, received ${JSON.stringify(retainText)}`);
      const expiryText = url.searchParams.get('messageExpiry');
      const expiry = expiryText === null ? undefined : Number(expiryText);
      if (expiry !== undefined && (!Number.isInteger(expiry) || expiry < 0)) return awsError(res, 400, 'InvalidRequestException', `messageExpiry: expected seconds, received ${JSON.stringify(expiryText)}`);
      let userProperties: UserProperty[];
      try {
        userProperties = parseUserProperties(req.headers['x-amz-mqtt5-user-properties']);
      } catch (err) {
        return awsError(res, 400, 'InvalidRequestException', `x-amz-mqtt5-user-properties: ${(err as Error).message}`);
      }
      const format = header(req, 'x-amz-mqtt5-payload-format-indicator');
      if (format !== undefined && format !== 'UTF8_DATA' && format !== 'UNSPECIFIED_BYTES') {
        return awsError(res, 400, 'InvalidRequestException', `x-amz-mqtt5-payload-format-indicator: expected UTF8_DATA or UNSPECIFIED_BYTES, received ${JSON.stringify(format)}`);
      }
      const correlation = header(req, 'x-amz-mqtt5-correlation-data');
      const payload = await readBody(req, MAX_HTTP_PAYLOAD_BYTES);
      if (!payload) return awsError(res, 413, 'RequestEntityTooLargeException', `payload: larger than ${MAX_HTTP_PAYLOAD_BYTES} bytes`);
      const envelope = createEnvelope({
        topic,
        payload,
        qos: qosText === '1' ? 1 : 0,
        retain: retainText === 'true',
        sourceAddress: `${req.socket.remoteAddress ?? 'unknown'}:${req.socket.remotePort ?? 0}`,
        userProperties,
        contentType: url.searchParams.get('contentType') ?? undefined,
        responseTopic: url.searchParams.get('responseTopic') ?? undefined,
        correlationData: correlation === undefined ? undefined : Buffer.from(correlation, 'base64'),
        payloadFormatIndicator: format === undefined ? undefined : format === 'UTF8_DATA' ? 1 : 0,
        messageExpiryIntervalSec: expiry,
      });
      try {
        const table = await retainedTable();
        await deps.log.append(TOPICS.ingress, [{ key: envelopeKey(envelope), value: encodeEnvelope(envelope), headers: envelopeHeaders(envelope) }]);
        if (envelope.retain) {
          if (payload.length === 0) await table.delete(topic);
          else await table.set(topic, encodeEnvelope(envelope));
        }
      } catch (err) {
        logger.warn({ err, topic }, 'publish not stored');
        return awsError(res, 503, 'ServiceUnavailableException', 'the message could not be stored; retry');
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** AWS: base64 of a JSON array of one-key objects, e.g. `[{"deviceName":"alpha"}]`. */
function parseUserProperties(raw: string | string[] | undefined): UserProperty[] {
  if (raw === undefined) return [];
  const text = Buffer.from(Array.isArray(raw) ? raw[0]! : raw, 'base64').toString('utf8');
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new Error('expected a base64 JSON array of {"name":"value"} objects');
  const out: UserProperty[] = [];
  for (const item of parsed) {
    if (typeof item !== 'object' || item === null) throw new Error('expected objects in the array');
    for (const [name, value] of Object.entries(item)) out.push({ name, value: String(value) });
  }
  return out;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function awsError(res: ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ message });
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type, 'content-length': Buffer.byteLength(body) }).end(body);
}
