/** UNSUBSCRIBE (MQTT 5 §3.10): removes filters, persists the session, answers UNSUBACK (§3.11). */
import type { IUnsubscribePacket, Packet } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { subscriptionEvent } from '../lifecycle.js';
import { RC } from './reason-codes.js';

/** UNSUBSCRIBE: one UNSUBACK code per filter (v5), 0x11 for a filter that was not subscribed. */
export async function handleUnsubscribe(c: Connection, p: IUnsubscribePacket): Promise<void> {
  const session = c.session!;
  // MQTT 5 §3.10.3 / 3.1.1 §3.10.3-2: an UNSUBSCRIBE without a topic filter is a protocol error.
  if (p.unsubscriptions.length === 0) return c.close('CLIENT_ERROR', true, RC.protocolError);
  const codes: number[] = [];
  const removed: string[] = [];
  for (const filter of p.unsubscriptions) {
    if (c.ctx.sessions.removeSubscription(session, filter)) {
      codes.push(RC.success);
      removed.push(filter);
    } else codes.push(RC.noSubscriptionExisted);
  }
  if (session.persistent && removed.length > 0) {
    await c.ctx.sessions.save(session).catch((err) => c.ctx.logger.warn({ err, clientId: session.clientId }, 'unsubscribe not persisted'));
  }
  if (c.state !== 'connected') return;
  if (c.v5) c.send({ cmd: 'unsuback', messageId: p.messageId, granted: codes } as Packet);
  else c.send({ cmd: 'unsuback', messageId: p.messageId } as Packet);
  if (removed.length > 0) c.ctx.lifecycle(subscriptionEvent(c.lifecycle, 'unsubscribed', removed, c.ctx.clock.now()), session.clientId);
}
