/**
 * AWS IoT data-plane Publish over HTTP: `POST /topics/{topic}?qos=&retain=&contentType=
 * &responseTopic=&messageExpiry=`, MQTT 5 properties in `x-amz-mqtt5-*` headers, the body as
 * payload. It answers only once the message is durable on `iot.ingress` (and, retained, in
 * `iot.retained`); every gateway then delivers it to its subscribers.
 *
 * This module is the publish itself, without a transport or a way to authenticate: the API
 * serves it as the SigV4-signed `Publish` operation (`api/routes/publish.ts`, held to the
 * access key's policy) and the device HTTPS listener (`https-publish.ts`) with the client
 * certificate's policy. Both pass `authorize`, which runs once the request is valid and before
 * anything is stored, so a refused publish leaves no trace on the log.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { PlatformError, createEnvelope, isValidTopicName, TOPICS, topicSpec, type ErrorCode, type Log, type Logger, type UserProperty } from '../../core/index.js';
import { RetainedStore } from '../retained-store.js';
import { createIngestWriter, type IngestWriter } from '../writer.js';

/** AWS IoT's message size limit (128 KiB). */
export const MAX_HTTP_PAYLOAD_BYTES = 128 * 1024;

export interface PublishRequest {
  /** The topic name, URL-decoded. */
  readonly topic: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly payload: Buffer;
  /** `address:port` of the client. */
  readonly sourceAddress: string;
  /** Who published (access key id, certificate id), recorded on the envelope. */
  readonly principal?: string;
  /** The thing the publisher acts as, when known (device certificates). */
  readonly thingName?: string;
  /**
   * Decides whether the caller may publish (and, with `retain`, retain) on `topic`; throws a
   * PlatformError (e.g. AUTH_FORBIDDEN) to refuse. Runs before anything is written.
   */
  readonly authorize: (topic: string, retain: boolean) => void;
}

export interface Publisher {
  /**
   * Validates, authorizes and stores one publish; resolves once it is durable.
   * @throws PlatformError INPUT_INVALID (bad topic or parameters), API_BODY_TOO_LARGE, whatever
   *   `authorize` throws, or LOG_UNAVAILABLE (retriable: nothing or a duplicate was stored).
   *   Each carries `details.awsErrorType` and `details.awsStatus`, AWS's answer for it.
   */
  publish(request: PublishRequest): Promise<void>;
  /** Closes the retained store the publisher opened (none when `deps.retained` was given). Safe twice. */
  stop(): Promise<void>;
}

export interface PublisherDeps {
  readonly log: Log;
  readonly logger: Logger;
  /** The process's `iot.retained` store (cli/ opens it once); when absent the publisher opens its own on first use. */
  readonly retained?: RetainedStore;
}

export function createPublisher(deps: PublisherDeps): Publisher {
  const logger = deps.logger.child({ module: 'ingest.http-publish' });
  let ready: Promise<IngestWriter> | undefined;
  let own: RetainedStore | undefined;
  let stopping: Promise<void> | undefined;
  // Opened on first use: the API serves publishes in processes that may never see one.
  const writer = () =>
    (ready ??= (async () => {
      await deps.log.ensureTopic(topicSpec(TOPICS.ingress));
      const retained = deps.retained ?? (own = await RetainedStore.open({ log: deps.log, logger }));
      return createIngestWriter({ log: deps.log, logger, retained });
    })().catch((err) => {
      ready = undefined;
      throw err;
    }));
  return {
    async publish(request) {
      const { topic, query, payload } = request;
      // Checked here too (the writer checks every message), to answer before authorizing.
      if (!isValidTopicName(topic)) throw invalid(`topic: expected a topic name without + or #, received ${JSON.stringify(topic)}`);
      const qosText = query.get('qos') ?? '0';
      if (qosText !== '0' && qosText !== '1') throw invalid(`qos: expected 0 or 1, received ${JSON.stringify(qosText)}`);
      const retainText = query.get('retain') ?? 'false';
      if (retainText !== 'true' && retainText !== 'false') throw invalid(`retain: expected true or false, received ${JSON.stringify(retainText)}`);
      const expiryText = query.get('messageExpiry');
      const expiry = expiryText === null ? undefined : Number(expiryText);
      if (expiry !== undefined && (!Number.isInteger(expiry) || expiry < 0)) throw invalid(`messageExpiry: expected seconds, received ${JSON.stringify(expiryText)}`);
      let userProperties: UserProperty[];
      try {
        userProperties = parseUserProperties(request.headers['x-amz-mqtt5-user-properties']);
      } catch (err) {
        throw invalid(`x-amz-mqtt5-user-properties: ${(err as Error).message}`);
      }
      const format = header(request.headers, 'x-amz-mqtt5-payload-format-indicator');
      if (format !== undefined && format !== 'UTF8_DATA' && format !== 'UNSPECIFIED_BYTES') {
        throw invalid(`x-amz-mqtt5-payload-format-indicator: expected UTF8_DATA or UNSPECIFIED_BYTES, received ${JSON.stringify(format)}`);
      }
      if (payload.length > MAX_HTTP_PAYLOAD_BYTES) {
        throw awsError('API_BODY_TOO_LARGE', 'RequestEntityTooLargeException', 413, `payload: larger than ${MAX_HTTP_PAYLOAD_BYTES} bytes`);
      }
      const retain = retainText === 'true';
      request.authorize(topic, retain);
      const correlation = header(request.headers, 'x-amz-mqtt5-correlation-data');
      const envelope = createEnvelope({
        topic,
        payload,
        qos: qosText === '1' ? 1 : 0,
        retain,
        sourceAddress: request.sourceAddress,
        userProperties,
        ...(request.principal !== undefined ? { principal: request.principal } : {}),
        ...(request.thingName !== undefined ? { thingName: request.thingName } : {}),
        contentType: query.get('contentType') ?? undefined,
        responseTopic: query.get('responseTopic') ?? undefined,
        correlationData: correlation === undefined ? undefined : Buffer.from(correlation, 'base64'),
        payloadFormatIndicator: format === undefined ? undefined : format === 'UTF8_DATA' ? 1 : 0,
        messageExpiryIntervalSec: expiry,
      });
      try {
        await (await writer()).write(envelope);
      } catch (err) {
        logger.warn({ err, topic }, 'publish not stored');
        throw new PlatformError('LOG_UNAVAILABLE', 'the message could not be stored; retry', { cause: err, retriable: true, details: { awsErrorType: 'ServiceUnavailableException', awsStatus: 503 } });
      }
    },
    stop: () =>
      (stopping ??= (async () => {
        await ready?.catch(() => undefined);
        await own?.close();
      })()),
  };
}

/** A refused publish: AWS IoT's data plane answers 403 ForbiddenException when a policy denies it. */
export function publishForbidden(action: 'iot:Publish' | 'iot:RetainPublish', topic: string): PlatformError {
  return awsError('AUTH_FORBIDDEN', 'ForbiddenException', 403, `${action} is not allowed on topic ${topic}`);
}

const awsError = (code: ErrorCode, type: string, status: number, message: string): PlatformError =>
  new PlatformError(code, message, { details: { awsErrorType: type, awsStatus: status } });
const invalid = (message: string): PlatformError => awsError('INPUT_INVALID', 'InvalidRequestException', 400, message);

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
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
