/**
 * SUBSCRIBE (MQTT 5 §3.8): validates each filter, applies AWS IoT's subscription quotas and
 * the authorizer, persists the session before SUBACK (§3.9), then sends retained messages.
 */
import type { ISubscribePacket } from 'mqtt-packet';
import { isValidTopicFilter } from '../../../core/index.js';
import { parseSharedFilter, topicSlashes } from '../../topics.js';
import type { Connection } from '../connection.js';
import { subscriptionEvent } from '../lifecycle.js';
import { outMessageFrom } from '../message.js';
import { RC } from './reason-codes.js';

/** SUBSCRIBE: one SUBACK code per filter, in order (MQTT 5 §3.9.3). */
export async function handleSubscribe(c: Connection, p: ISubscribePacket): Promise<void> {
  const session = c.session!;
  const limits = c.ctx.limits;
  // MQTT 5 §3.8.3 / 3.1.1 §3.8.3-3: a SUBSCRIBE without a topic filter is a protocol error.
  if (p.subscriptions.length === 0) return c.close('CLIENT_ERROR', true, RC.protocolError);
  const refused = c.v5 ? RC.quotaExceeded : 0x80;
  if (p.subscriptions.length > limits.maxFiltersPerSubscribe) {
    // AWS IoT: at most 8 subscriptions per SUBSCRIBE; the request is refused whole.
    c.ctx.metrics.limitRefused('subscriptions-per-subscribe');
    c.send({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map(() => refused) });
    return;
  }
  const subscriptionId = c.v5 ? p.properties?.subscriptionIdentifier : undefined;
  const codes: number[] = [];
  const granted: { filter: string; qos: 0 | 1 | 2; shared: boolean; rh: number; existed: boolean }[] = [];
  for (const s of p.subscriptions) {
    const filter = s.topic;
    const shared = parseSharedFilter(filter);
    const valid = shared !== null && !filter.includes('\uFFFD') && isValidTopicFilter(shared ? shared.filter : filter);
    if (!valid) {
      codes.push(c.v5 ? RC.topicFilterInvalid : 0x80);
      continue;
    }
    if (topicSlashes(filter) > limits.maxTopicSlashes) {
      c.ctx.metrics.limitRefused('topic-depth');
      codes.push(c.v5 ? RC.topicFilterInvalid : 0x80);
      continue;
    }
    if (!session.subscriptions.has(filter) && session.subscriptions.size >= limits.maxSubscriptionsPerConnection) {
      // AWS IoT: subscriptions per connection (50 by default); a new filter beyond it is refused.
      c.ctx.metrics.limitRefused('subscriptions-per-connection');
      codes.push(refused);
      continue;
    }
    // MQTT 5 §3.8.3.1: No Local on a shared subscription is a protocol error.
    if (shared && s.nl) return c.close('CLIENT_ERROR', true, RC.protocolError);
    const authorize = c.authenticator.authorizeSubscribe;
    if (authorize && !(await c.authorized(() => authorize(c.clientContext!, filter)))) {
      codes.push(c.v5 ? RC.notAuthorized : 0x80);
      continue;
    }
    if (c.state !== 'connected') return;
    const rh = (s.rh ?? 0) as 0 | 1 | 2;
    const existed = c.ctx.sessions.addSubscription(session, filter, {
      qos: s.qos,
      noLocal: s.nl === true,
      retainAsPublished: s.rap === true,
      retainHandling: rh,
      subscriptionId,
    });
    codes.push(s.qos);
    granted.push({ filter, qos: s.qos, shared: shared !== undefined, rh, existed });
  }
  if (session.persistent && granted.length > 0) {
    // Durable before SUBACK, so that an acknowledged subscription survives a crash.
    await c.ctx.sessions.save(session).catch((err) => c.ctx.logger.warn({ err, clientId: session.clientId }, 'subscription not persisted'));
  }
  if (c.state !== 'connected') return;
  c.send({ cmd: 'suback', messageId: p.messageId, granted: codes });
  for (const g of granted) {
    // Retained messages: not for shared subscriptions (§4.8.2); retain handling 1 = only when new.
    if (g.shared || g.rh === 2 || (g.rh === 1 && g.existed)) continue;
    for (const envelope of c.ctx.router.retainedFor(g.filter)) {
      const qos = (envelope.qos < g.qos ? envelope.qos : g.qos) as 0 | 1 | 2;
      c.deliver(outMessageFrom(envelope, qos, true, subscriptionId === undefined ? [] : [subscriptionId]));
    }
  }
  if (granted.length > 0) c.ctx.lifecycle(subscriptionEvent(c.lifecycle, 'subscribed', granted.map((g) => g.filter), c.ctx.clock.now()), session.clientId);
}
