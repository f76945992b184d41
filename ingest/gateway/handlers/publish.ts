/**
 * Inbound PUBLISH (MQTT 5 §3.3) and PUBREL (§3.6): topic aliases, topic validation and AWS
 * IoT's quotas, authorization, the ingest writer, then delivery and acknowledgement. A
 * PUBLISH is acknowledged (PUBACK §3.4, PUBREC §3.5) only once the writer made it durable and
 * every offline session it was queued for holds it, and acknowledgements go out in publish
 * order (MQTT §4.6).
 */
import { isUtf8 } from 'node:buffer';
import type { IPublishPacket } from 'mqtt-packet';
import { isValidTopicName, type Envelope } from '../../../core/index.js';
import { envelopeFromMqtt } from '../../mqtt-envelope.js';
import { topicQuotaBroken } from '../../topics.js';
import type { Connection } from '../connection.js';
import { DURABLE } from '../session-store.js';
import { RC } from './reason-codes.js';

/** PUBLISH from the client; acknowledges in publish order once durable (see the module comment). */
export function handlePublish(c: Connection, p: IPublishPacket): void {
  const session = c.session!;
  let topic = p.topic;
  const props = p.properties;
  if (c.v5 && props?.topicAlias !== undefined) {
    const alias = props.topicAlias;
    if (alias === 0 || alias > c.ctx.limits.topicAliasMaximum) return c.close('CLIENT_ERROR', true, RC.topicAliasInvalid);
    if (topic.length === 0) {
      const known = c.aliases?.get(alias);
      if (known === undefined) return c.close('CLIENT_ERROR', true, RC.protocolError);
      topic = known;
    } else {
      (c.aliases ??= new Map()).set(alias, topic);
    }
  }
  if (!isValidTopicName(topic)) return c.close('CLIENT_ERROR', true, c.v5 ? RC.topicNameInvalid : undefined);
  const qos = p.qos;
  const id = p.messageId;
  const overLimit = topicQuotaBroken(topic, c.ctx.limits);
  if (overLimit) {
    c.ctx.metrics.limitRefused(overLimit);
    // A topic AWS IoT's quotas refuse: a v5 client is told (0x90), a 3.1.1 client, which has no
    // way to be told, is disconnected, as for any publish AWS IoT refuses.
    if (!c.v5) return c.close('CLIENT_ERROR', true);
    if (qos === 0) return;
    c.inboundInflight++;
    return ackInOrder(c, qos, id, RC.topicNameInvalid);
  }
  const now = c.ctx.clock.now();
  const throttled = c.withinRate(now);
  if (throttled) {
    c.ctx.metrics.limitRefused(throttled);
    // AWS IoT throttles a connection over its publish rate or throughput: the message is
    // dropped, not acknowledged, and the connection stays (a 3.1.1 client sends it again when
    // it reconnects); a v5 client is told with 0x97 (quota exceeded) in PUBACK / PUBREC.
    if (!c.v5 || qos === 0) return;
    c.inboundInflight++;
    return ackInOrder(c, qos, id, RC.quotaExceeded);
  }
  if (qos === 2 && id !== undefined && session.incomingQos2.has(id)) {
    // A resent QoS 2 PUBLISH that was stored already: acknowledge again, do not store twice.
    c.inbound.push(new Inbound(c, qos, id, topic, undefined, RESEND));
    return;
  }
  if (qos > 0) {
    c.inboundInflight++;
    if (c.v5 && c.inboundInflight > c.ctx.limits.receiveMaximum) {
      return c.close('THROTTLED', true, RC.receiveMaximumExceeded);
    }
  }
  const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
  if (c.v5 && props?.payloadFormatIndicator === true && !isUtf8(payload)) {
    return ackInOrder(c, qos, id, RC.payloadFormatInvalid);
  }
  const client = c.clientContext!;
  const envelope = envelopeFromMqtt({ topic, payload, qos, retain: p.retain, properties: props }, c.source(session.clientId, now));
  const entry = new Inbound(c, qos, id, topic, envelope, undefined);
  c.inbound.push(entry);
  c.pendingAppends++;
  if (!c.paused && c.pendingAppends >= c.ctx.limits.maxPendingAppendsPerConnection) {
    c.paused = true;
    c.stream.pause(); // flow control by TCP: a flooding client waits, others keep their share
  }
  const authorize = c.authenticator.authorizePublish;
  if (authorize) {
    void c.authorized(() => authorize(client, topic)).then((ok) => (ok ? ingest(c, entry) : entry.settle(RC.notAuthorized)));
  } else {
    ingest(c, entry);
  }
}

/** The acknowledgement of a resent QoS 2 PUBLISH that was stored already: PUBREC again. */
const RESEND = -1;

/**
 * One inbound PUBLISH on its way through the connection's inbound queue (see InboundQueue), or
 * an acknowledgement decided at once (`code`) that must still leave in publish order.
 */
export class Inbound {
  /** The write's outcome: RC.success, RC.notAuthorized or the error; undefined while writing. */
  outcome: number | Error | undefined;
  /** The message is durable in every offline session it was queued for (or that failed: `failure`). */
  durable = false;
  failure: unknown;

  constructor(
    readonly c: Connection,
    readonly qos: number,
    readonly id: number | undefined,
    readonly topic: string,
    readonly envelope: Envelope | undefined,
    /** An acknowledgement decided without a write (a reason code, or RESEND). */
    readonly code: number | undefined,
  ) {
    if (code !== undefined) {
      this.outcome = code;
      this.durable = true;
    }
  }

  /** The ingest writer's WriteListener. */
  written(err?: unknown): void {
    this.settle(err === undefined ? RC.success : err instanceof Error ? err : new Error(String(err)));
  }

  settle(outcome: number | Error): void {
    this.outcome = outcome;
    this.c.inbound.drain();
  }

  /** The router's queued copies are durable (or failed). */
  stored(failure?: unknown): void {
    this.durable = true;
    this.failure = failure;
    this.c.inbound.drain();
  }
}

/**
 * A connection's inbound publishes, in publish order, each passing two points in that order:
 * delivered to local subscribers once the log has it (or refused), then acknowledged once it is
 * durable in every offline session it was queued for too (MQTT §4.6: acknowledgements in publish
 * order). One array and two cursors rather than promise chains: a message costs no promise of
 * its own unless an offline session queued it.
 */
export class InboundQueue {
  readonly #items: Inbound[] = [];
  /** Next to deliver (its outcome is awaited). */
  #delivered = 0;
  /** Next to acknowledge (delivered; its durability is awaited). */
  #acked = 0;
  #draining = false;
  #again = false;

  constructor(readonly c: Connection) {}

  push(entry: Inbound): void {
    this.#items.push(entry);
    if (entry.code !== undefined) this.drain();
  }

  drain(): void {
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = true;
    try {
      do {
        this.#again = false;
        this.#deliver();
        this.#acknowledge();
      } while (this.#again);
    } finally {
      this.#draining = false;
    }
    const items = this.#items;
    if (this.#acked === items.length) {
      items.length = 0;
      this.#delivered = this.#acked = 0;
    } else if (this.#acked >= 1024) {
      items.splice(0, this.#acked);
      this.#delivered -= this.#acked;
      this.#acked = 0;
    }
  }

  #deliver(): void {
    const c = this.c;
    const items = this.#items;
    while (this.#delivered < items.length) {
      const e = items[this.#delivered]!;
      if (e.outcome === undefined) return;
      this.#delivered++;
      if (e.code !== undefined) continue;
      c.pendingAppends--;
      if (c.paused && c.pendingAppends < c.ctx.limits.maxPendingAppendsPerConnection / 2) {
        c.paused = false;
        c.stream.resume();
      }
      if (e.outcome !== RC.success) {
        e.durable = true;
        continue;
      }
      let durable: Promise<void>;
      try {
        durable = c.ctx.router.deliver(e.envelope!, c.session!.clientId);
      } catch (err) {
        c.ctx.logger.error({ err, clientId: c.session!.clientId, topic: e.topic }, 'publish failed');
        e.outcome = err instanceof Error ? err : new Error(String(err));
        e.durable = true;
        c.close('SERVER_ERROR', true, RC.unspecified);
        continue;
      }
      if (durable === DURABLE) e.durable = true;
      else durable.then(() => e.stored(), (err: unknown) => e.stored(err ?? new Error('queued copy not stored')));
    }
  }

  #acknowledge(): void {
    const c = this.c;
    const items = this.#items;
    while (this.#acked < this.#delivered) {
      const e = items[this.#acked]!;
      if (!e.durable) return;
      this.#acked++;
      try {
        acknowledge(c, e);
      } catch (err) {
        c.ctx.logger.error({ err, clientId: c.clientId }, 'acknowledgement failed');
      }
    }
  }
}

function acknowledge(c: Connection, e: Inbound): void {
  const { qos, id, outcome } = e;
  if (e.code === RESEND) {
    if (id !== undefined) c.send({ cmd: 'pubrec', messageId: id });
  } else if (e.code !== undefined) {
    ackPublish(c, qos, id, e.code);
  } else if (outcome instanceof Error) {
    notStored(c, outcome, qos, id, e.topic);
  } else if (outcome === RC.notAuthorized) {
    if (c.v5) ackPublish(c, qos, id, RC.notAuthorized);
    else c.close('AUTH_ERROR', true); // AWS IoT disconnects a 3.1.1 client that publishes where it may not
  } else if (e.failure !== undefined) {
    notStored(c, e.failure, qos, id, e.topic);
  } else {
    ackPublish(c, qos, id, RC.success);
  }
}

/**
 * The log (or an offline session's record) did not take a message: never acknowledge it. v5
 * clients get a failure reason code; 3.1.1 has none, so the connection is closed and the
 * client sends it again.
 */
function notStored(c: Connection, err: unknown, qos: number, id: number | undefined, topic: string): void {
  c.ctx.logger.warn({ err, clientId: c.clientId, topic }, 'publish not stored; not acknowledged');
  if (c.v5 && qos > 0) return ackPublish(c, qos, id, RC.unspecified);
  if (qos > 0) c.close('SERVER_ERROR', true, RC.unspecified);
}

/** Acknowledges after every earlier publish of this connection was acknowledged (MQTT §4.6). */
function ackInOrder(c: Connection, qos: number, id: number | undefined, code: number): void {
  c.inbound.push(new Inbound(c, qos, id, '', undefined, code));
}

function ingest(c: Connection, entry: Inbound): void {
  try {
    c.ctx.writer.writeTo(entry.envelope!, entry);
  } catch (err) {
    entry.written(err); // the topic was validated above; an envelope that does not encode
  }
}

function ackPublish(c: Connection, qos: number, id: number | undefined, code: number): void {
  if (qos === 0 || id === undefined || c.state !== 'connected') return;
  const cmd = qos === 1 ? 'puback' : 'pubrec';
  if (qos === 1) c.inboundInflight--;
  else if (code < 0x80) c.session!.addIncomingQos2(id);
  else c.inboundInflight--;
  if (c.v5 && code !== RC.success) c.send({ cmd, messageId: id, reasonCode: code });
  else c.sendAck(cmd, id);
}

/** PUBREL (MQTT 5 §3.6): the QoS 2 flow of a stored message ends with PUBCOMP. */
export function handlePubrel(c: Connection, id: number | undefined): void {
  if (id === undefined) return;
  const known = c.session!.deleteIncomingQos2(id);
  if (known) c.inboundInflight--;
  c.send({ cmd: 'pubcomp', messageId: id, ...(c.v5 && !known ? { reasonCode: RC.packetIdNotFound } : {}) });
}
