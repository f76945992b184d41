/**
 * Acknowledgements of what the gateway sent (outbound QoS 1 and 2, MQTT 5 §4.3): PUBACK and
 * PUBCOMP free the packet id and let the next queued message go; PUBREC moves it to PUBREL.
 */
import type { Connection } from '../connection.js';
import { RC } from './reason-codes.js';

/** PUBACK or PUBCOMP: the message with this packet id is delivered; the next queued one may go. */
export function handleAcked(c: Connection, id: number | undefined): void {
  const session = c.session;
  if (id === undefined || !session) return;
  session.deleteInflight(id);
  c.drain();
}

/** PUBREC: the client has the QoS 2 message; answer PUBREL (0x92 for an unknown packet id, v5). */
export function handlePubrec(c: Connection, id: number | undefined): void {
  const session = c.session;
  if (id === undefined || !session) return;
  const f = session.inflight.get(id);
  if (f) f.state = 'pubrel';
  c.send({ cmd: 'pubrel', messageId: id, ...(c.v5 && !f ? { reasonCode: RC.packetIdNotFound } : {}) });
}
