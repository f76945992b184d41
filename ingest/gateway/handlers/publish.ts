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
    c.acks = c.acks.then(() => c.send({ cmd: 'pubrec', messageId: id }));
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
  const authorize = c.authenticator.authorizePublish;
  // Settled at once (never rejects), so that a failure waiting its turn in the chain is not unhandled.
  const outcome: Promise<number | Error> = authorize
    ? c.authorized(() => authorize(client, topic)).then((ok) => (ok ? ingest(c, envelope) : RC.notAuthorized))
    : ingest(c, envelope);
  c.pendingAppends++;
  if (!c.paused && c.pendingAppends >= c.ctx.limits.maxPendingAppendsPerConnection) {
    c.paused = true;
    c.stream.pause(); // flow control by TCP: a flooding client waits, others keep their share
  }
  // Two chains: deliveries go out in publish order as soon as the log has the message; the
  // acknowledgement of each waits, in publish order too, until the message is also durable in
  // every offline session it was queued for (the router's `deliver` promise). Messages of one turn
  // share one snapshot write, so acknowledgements are not serialised behind one write each.
  const step: Promise<() => void | Promise<void>> = c.chain
    .then(() =>
      outcome.then((result) => {
        c.pendingAppends--;
        if (c.paused && c.pendingAppends < c.ctx.limits.maxPendingAppendsPerConnection / 2) {
          c.paused = false;
          c.stream.resume();
        }
        if (result === RC.success) {
          const durable = c.ctx.router.deliver(envelope, session.clientId);
          return () =>
            durable.then(
              () => ackPublish(c, qos, id, RC.success),
              (err: unknown) => notStored(c, err, qos, id, topic),
            );
        }
        if (result === RC.notAuthorized) {
          if (c.v5) return () => ackPublish(c, qos, id, RC.notAuthorized);
          return () => c.close('AUTH_ERROR', true); // AWS IoT disconnects a 3.1.1 client that publishes where it may not
        }
        return () => notStored(c, result, qos, id, topic);
      }),
    )
    .catch((err: unknown) => {
      c.ctx.logger.error({ err, clientId: session.clientId, topic }, 'publish failed');
      return () => c.close('SERVER_ERROR', true, RC.unspecified);
    });
  c.chain = step.then(() => undefined);
  c.acks = c.acks
    .then(() => step)
    .then((finish) => finish())
    .catch((err: unknown) => c.ctx.logger.error({ err, clientId: session.clientId }, 'acknowledgement failed'));
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
  c.acks = c.acks.then(() => ackPublish(c, qos, id, code));
}

function ingest(c: Connection, envelope: Envelope): Promise<number | Error> {
  const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));
  try {
    return c.ctx.writer.write(envelope).then(() => RC.success, asError);
  } catch (err) {
    return Promise.resolve(asError(err)); // the topic was validated above; an envelope that does not encode
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
