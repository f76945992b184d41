/**
 * `mqtt` (kiot's own; AWS IoT's republish only reaches its own broker): publishes each rule
 * output to an external MQTT broker, on a templated topic, over `mqtt://` or `mqtts://` (with a
 * CA, and a client certificate for mutual TLS).
 *
 * A batch is published pipelined: every PUBLISH goes out at once and the batch waits for all
 * their PUBACKs (QoS 1) or for the bytes to be written (QoS 0). A record the broker refuses
 * (an MQTT 5 PUBACK reason code >= 0x80, an invalid rendered topic) fails alone. The client
 * connects once and never reconnects on its own: the action runner reconnects through `connect`
 * after a SINK_UNAVAILABLE, with its backoff. A broker that accepts TCP but never answers
 * CONNECT or PUBLISH fails the batch retriably after `timeoutMs`.
 *
 * mqtt.js is otherwise imported only in ingest/; actions may not import ingest/ (STYLE.md,
 * layering), so this folder loads it itself, on first use.
 */
import { readFile } from 'node:fs/promises';
import type { IClientOptions, IClientPublishOptions, MqttClient } from 'mqtt';
import { z } from 'zod';
import { endBatch, isValidTopicName, PlatformError, sinkUnavailable, type ActionRecord, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { outputBytes, type ActionDeps } from '../runtime/deps.js';
import { SinkConnection } from '../runtime/connection.js';
import { constantString, crossChecked, keyValueList, paramsSchema } from '../runtime/params.js';

export const MQTT_MAX_BATCH_SIZE = 500;
/** Bounds connecting and every batch, so that a stalled broker fails the batch retriably. */
export const DEFAULT_MQTT_TIMEOUT_MS = 10_000;

const schema = paramsSchema({
  /** `mqtt://host:port` or `mqtts://host:port` (TLS). */
  url: constantString('a connection parameter').refine((u) => /^mqtts?:\/\/[^/]/.test(u), 'expected mqtt://host:port or mqtts://host:port'),
  /** The topic name, usually a template such as `site/${clientid()}/alerts`. */
  topic: z.string().min(1),
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
  retain: z.boolean().default(false),
  /** The message; default: the rule output as JSON (the bytes of a binary output). */
  payload: z.string().optional(),
  /** MQTT 5 user properties, each value a template. */
  user_properties: keyValueList.optional(),
  /** 5 (default) or 4 (MQTT 3.1.1, for brokers without MQTT 5; no user_properties then). */
  mqtt_version: z.union([z.literal(4), z.literal(5)]).default(5),
  client_id: constantString('a connection parameter').optional(),
  username: constantString('a connection parameter').optional(),
  password: constantString('a connection parameter').optional(),
  /** PEM file of the CA that signed the broker's certificate (mqtts://). */
  ca: constantString('a connection parameter').optional(),
  /** PEM client certificate and key files, for brokers that require mutual TLS. */
  cert: constantString('a connection parameter').optional(),
  key: constantString('a connection parameter').optional(),
  reject_unauthorized: z.boolean().default(true),
});

const mqttParams = crossChecked(schema, (p, problem) => {
  const tls = p.url.startsWith('mqtts:');
  for (const field of ['ca', 'cert', 'key'] as const) if (p[field] !== undefined && !tls) problem(field, `${field} goes with an mqtts:// url`);
  if ((p.cert === undefined) !== (p.key === undefined)) problem(p.cert === undefined ? 'cert' : 'key', 'give cert and key together');
  if (p.user_properties !== undefined && p.mqtt_version !== 5) problem('user_properties', 'user_properties need mqtt_version 5');
});

export type MqttConfig = ReturnType<typeof schema.parse>;

export interface MqttSinkOptions {
  readonly timeoutMs?: number;
}

type MqttModule = typeof import('mqtt');
let mqttModule: Promise<MqttModule> | undefined;
/** Loaded on first use, so that `kiot` commands that publish nothing elsewhere do not pay for it. */
const loadMqtt = (): Promise<MqttModule> => (mqttModule ??= import('mqtt'));

export function createMqttDefinition(options: MqttSinkOptions = {}): SinkDefinition<MqttConfig, Pick<ActionDeps, 'logger'>> {
  return {
    type: 'mqtt',
    awsKey: 'mqtt',
    summary: 'Publishes each rule output to an external MQTT broker (QoS 0 or 1, TLS) on a templated topic',
    config: mqttParams,
    resourceParams: ['url', 'topic'],
    maxBatchSize: MQTT_MAX_BATCH_SIZE,
    create: (config) => new MqttSink(config, options.timeoutMs ?? DEFAULT_MQTT_TIMEOUT_MS),
  };
}

export const mqttAction = createMqttDefinition();

async function readPem(field: string, path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new PlatformError('CONFIG_INVALID', `mqtt ${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { details: { field }, cause: err });
  }
}

class MqttSink implements Sink<MqttConfig> {
  readonly #config: MqttConfig;
  readonly #timeoutMs: number;
  readonly #connection = new SinkConnection<MqttClient>('MQTT', {
    open: () => this.#open(),
    destroy: (client) => client.end(true),
    end: (client) => client.endAsync(),
  });

  constructor(config: MqttConfig, timeoutMs: number) {
    this.#config = config;
    this.#timeoutMs = timeoutMs;
  }

  async #options(): Promise<IClientOptions> {
    const c = this.#config;
    const [ca, cert, key] = await Promise.all([readPem('ca', c.ca), readPem('cert', c.cert), readPem('key', c.key)]);
    return {
      protocolVersion: c.mqtt_version,
      clean: true,
      reconnectPeriod: 0, // the action runner reconnects, with its backoff
      connectTimeout: this.#timeoutMs,
      queueQoSZero: false,
      ...(c.client_id !== undefined ? { clientId: c.client_id } : {}),
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      rejectUnauthorized: c.reject_unauthorized,
    };
  }

  /** A connected client (SinkConnection keeps it between batches). */
  async #open(): Promise<MqttClient> {
    const [{ connect }, options] = await Promise.all([loadMqtt(), this.#options()]);
    const client = connect(this.#config.url, options);
    try {
      await new Promise<void>((resolve, reject) => {
        // mqtt.js's connectTimeout covers CONNACK too, but ends with a bare 'close'.
        const timer = setTimeout(() => settle(new Error(`no CONNACK within ${this.#timeoutMs} ms`)), this.#timeoutMs);
        const settle = (err?: Error) => {
          clearTimeout(timer);
          client.off('connect', onConnect).off('error', settle).off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onConnect = () => settle();
        const onClose = () => settle(new Error('connection closed before CONNACK'));
        client.once('connect', onConnect).once('error', settle).once('close', onClose);
      });
    } catch (err) {
      client.end(true);
      throw sinkUnavailable('MQTT', (err as Error).message, err);
    }
    // Later errors reach the publish that failed; without a listener the client would throw.
    client.on('error', () => {});
    client.once('close', () => this.#connection.drop(client));
    return client;
  }

  async connect(): Promise<void> {
    await this.#connection.get();
  }

  async writeBatch(records: readonly ActionRecord<MqttConfig>[]): Promise<void> {
    if (records.length === 0) return;
    let client = await this.#connection.get();
    if (!client.connected) {
      this.#connection.drop(client);
      client = await this.#connection.get();
    }
    const failures: RecordFailure[] = [];
    let unreachable: Error | undefined;
    // Rejects when the connection closes or the batch outlasts timeoutMs: whatever is still
    // unacknowledged then may or may not have arrived, so it is retried.
    let timer: NodeJS.Timeout | undefined;
    let onClose!: () => void;
    const lost = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no PUBACK within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      onClose = () => reject(new Error('connection to the broker closed'));
      client.once('close', onClose);
    });
    lost.catch(() => {});
    try {
      await Promise.all(records.map(async (r, index) => {
        const p = r.params;
        if (!isValidTopicName(p.topic)) return void failures.push({ index, message: `MQTT: topic rendered as ${JSON.stringify(p.topic)}, not a valid topic name`, retriable: false });
        let payload: Buffer;
        try {
          payload = p.payload !== undefined ? Buffer.from(p.payload) : outputBytes(r.output);
        } catch (err) {
          return void failures.push({ index, message: `MQTT: ${(err as Error).message}`, retriable: false });
        }
        const options: IClientPublishOptions = {
          qos: p.qos,
          retain: p.retain,
          ...(p.user_properties?.length ? { properties: { userProperties: Object.fromEntries(p.user_properties.map((u) => [u.key, u.value])) } } : {}),
        };
        try {
          await Promise.race([client.publishAsync(p.topic, payload, options), lost]);
        } catch (err) {
          // A refusal carries the PUBACK's reason code (mqtt.js handlers/ack.js); anything else is the connection.
          const code = (err as { code?: unknown }).code;
          const refused = typeof code === 'number' && code >= 0x80;
          if (!refused) unreachable ??= err as Error;
          failures.push({ index, message: `MQTT ${p.topic}: ${(err as Error).message}`, retriable: !refused || code === 0x97 /* quota exceeded */ });
        }
      }));
    } finally {
      clearTimeout(timer);
      client.off('close', onClose);
    }
    failures.sort((a, b) => a.index - b.index);
    // A timeout or a broken connection leaves acknowledgements unknown: the next batch starts on a new connection.
    if (unreachable !== undefined) this.#connection.drop(client);
    endBatch('MQTT', failures, records.length, unreachable === undefined ? undefined : sinkUnavailable('MQTT', unreachable.message, unreachable));
  }

  close(): Promise<void> {
    return this.#connection.close();
  }
}
