/**
 * The Device Shadow service (AWS IoT developer guide, "AWS IoT Device Shadow service"): classic
 * and named shadows on the compacted `iot.shadows` topic, one writer per shadow (the owner of
 * its partition, core/state), reached two ways:
 * - MQTT: it reads `iot.ingress` as the consumer group `kiot-shadow` and answers the requests on
 *   `$aws/things/<thing>/shadow[/name/<shadow>]/{get,update,delete}`; one shadow's requests run
 *   in log order;
 * - HTTP: `shadows` (get, update, delete, list) for the data-plane operations api/ serves.
 * What the service publishes goes to `iot.ingress`, like any message, so that devices (through
 * the gateway) and rules both see it. See shadow/README.md.
 */
import {
  StateStore,
  askUntilAnswered,
  TOPICS,
  createEnvelope,
  createRequestConsumer,
  topicSpec,
  type Envelope,
  type EnvelopeConsumer,
  type Log,
  type Logger,
  envelopeRecord,
  HANDLED_HEADER,
  type MessageTaker,
  type AppendRecord,
} from '../core/index.js';
import { SHADOW_COMMANDS, type ShadowCommandInput, type ShadowCommandResult, type ShadowSource } from './commands.js';
import { errorDocument, parseRequest, type ShadowError, type StoredShadow } from './document.js';
import { readShadowHistory, type HistoryEntry, type HistoryQuery } from './history.js';
import { shadowCodec } from './record.js';
import { currentDocument } from './view.js';
import { parseRequestTopic, shadowIdOfKey, shadowIdProblem, shadowKey, thingKeyPrefix, topicPrefix, type ShadowId, type ShadowOperation } from './topics.js';

/** The consumer group that answers shadow requests from MQTT (one answer per request, whichever process runs it). */
export const SHADOW_GROUP = 'kiot-shadow';

export interface ShadowServiceDeps {
  readonly log: Log;
  readonly logger: Logger;
}

/**
 * The shadow operations of the HTTP data plane; each resolves to the document AWS answers with,
 * or its error. As a MessageTaker, it answers the MQTT requests of this process's gateway on the
 * shadows this process owns as they are written (one append for a request and its answer).
 */
export interface Shadows extends MessageTaker {
  request(id: ShadowId, op: ShadowOperation, payload: Uint8Array | string, source?: ShadowSource): Promise<ShadowCommandResult>;
  /** The names of a thing's named shadows, sorted. */
  namedShadows(thingName: string): string[];
  /** The current document of a shadow (for tests), without routing. */
  read(id: ShadowId): StoredShadow | undefined;
  /** What GetThingShadow would answer now, from this process's view (`get_thing_shadow`; as view.ts's). */
  document(id: ShadowId): object | undefined;
  /** The versions of a shadow that retention keeps, oldest first (history.ts). */
  history(id: ShadowId, query?: HistoryQuery): Promise<HistoryEntry[]>;
}

export interface ShadowService {
  /** Opens the store (joining its owner group) and starts answering MQTT requests. */
  start(): Promise<Shadows>;
  /** Safe twice. */
  stop(): Promise<void>;
}

export function createShadowService(deps: ShadowServiceDeps): ShadowService {
  const logger = deps.logger.child({ module: 'shadow' });
  let store: StateStore<StoredShadow> | undefined;
  let consumer: EnvelopeConsumer | undefined;
  let stopping: Promise<void> | undefined;

  /** Checks the names and the payload; a request that passes is run by its shadow's owner. */
  const run = async (s: StateStore<StoredShadow>, id: ShadowId, op: ShadowOperation, payload: Uint8Array | string, source: ShadowSource): Promise<ShadowCommandResult & { ran: boolean }> => {
    const problem = shadowIdProblem(id);
    if (problem) return { ok: false, error: { code: 400, message: problem }, ran: false };
    const parsed = parseRequest(payload, op);
    if (!parsed.ok) return { ...parsed, ran: false };
    const result = await s.execute<unknown, ShadowCommandResult>(`shadow.${op}`, { ...id, request: parsed.value, source });
    return { ...result, ran: true };
  };

  const shadows = (s: StateStore<StoredShadow>): Shadows => ({
    async request(id, op, payload, source = 'http') {
      const { ran: _ran, ...result } = await run(s, id, op, payload, source);
      return result;
    },
    namedShadows(thingName) {
      const prefix = `${thingKeyPrefix(thingName)}/name/`;
      const names: string[] = [];
      for (const key of s.keys()) if (key.startsWith(prefix) && s.get(key) !== undefined) names.push(shadowIdOfKey(key).shadowName!);
      return names.sort();
    },
    read(id) {
      return s.get(shadowKey(id));
    },
    document(id) {
      return currentDocument(s.get(shadowKey(id)));
    },
    history(id, query) {
      return readShadowHistory(deps, id, query);
    },
    take(envelope, record) {
      const target = parseRequestTopic(envelope.topic);
      // Names or a payload refused before the command runs: answered by the consumer, from the log.
      if (!target || shadowIdProblem(target)) return undefined;
      const parsed = parseRequest(envelope.payload, target.op);
      if (!parsed.ok) return undefined;
      // Literals, not spreads: this runs once per request, and Node 20 builds spreads slowly.
      const headers: Record<string, string | Buffer> = { [HANDLED_HEADER]: SHADOW_GROUP };
      for (const name in record.headers) headers[name] = record.headers[name]!;
      const message: AppendRecord = { key: record.key ?? null, value: record.value, headers };
      const { thingName, shadowName } = target;
      const request = parsed.value;
      const input: ShadowCommandInput =
        shadowName === undefined ? { thingName, request, source: 'mqtt', message } : { thingName, shadowName, request, source: 'mqtt', message };
      return s.executeHere(`shadow.${target.op}`, input);
    },
  });

  /**
   * MQTT requests, handed to the store in log order: the store runs one shadow's commands one at
   * a time in the order they were asked (here, or appended in this order to its owner's requests),
   * so a request need not wait for the one before it to finish.
   */
  const inFlight = new Set<Promise<void>>();
  const onRequest = (envelope: Envelope): Promise<void> | undefined => {
    const target = parseRequestTopic(envelope.topic);
    if (!target || !store) return undefined;
    const s = store;
    const handle = () =>
      askUntilAnswered(
        async () => {
          const result = await run(s, target, target.op, envelope.payload, 'mqtt');
          // The owner answered what it ran (commands.ts); a request refused before that is answered here.
          if (!result.ok && !result.ran) await rejectEarly(target, target.op, result);
        },
        { logger, stopping: () => stopping !== undefined, message: 'shadow request not answered; asking again', fields: { topic: envelope.topic } },
      );
    const mine = handle().catch((err: unknown) => logger.error({ err, topic: envelope.topic }, 'shadow request failed'));
    inFlight.add(mine);
    void mine.finally(() => inFlight.delete(mine));
    return mine;
  };

  const rejectEarly = async (id: ShadowId, op: ShadowOperation, result: { error: ShadowError; clientToken?: string }) => {
    const reply = createEnvelope({
      topic: `${topicPrefix(id)}/${op}/rejected`,
      payload: Buffer.from(JSON.stringify(errorDocument(result.error, result.clientToken, Math.floor(Date.now() / 1000)))),
      qos: 1,
      thingName: id.thingName,
    });
    await deps.log.append(TOPICS.ingress, [envelopeRecord(reply)]);
  };

  return {
    async start() {
      // Pipelined: the shadow commands read only the state they are given, so one shadow's updates need not wait for each other's read-back.
      store = await StateStore.open({ log: deps.log, logger, topic: topicSpec(TOPICS.shadows), codec: shadowCodec, commands: SHADOW_COMMANDS, pipelined: true });
      await deps.log.ensureTopic(topicSpec(TOPICS.ingress));
      await deps.log.ensureTopic(topicSpec(TOPICS.shadowHistory));
      consumer = createRequestConsumer({ log: deps.log, logger, groupId: SHADOW_GROUP, accepts: (topic) => parseRequestTopic(topic) !== undefined, deliver: onRequest });
      await consumer.start();
      return shadows(store);
    },
    stop() {
      return (stopping ??= (async () => {
        await consumer?.stop();
        await Promise.allSettled([...inFlight]);
        await store?.close();
      })());
    },
  };
}
