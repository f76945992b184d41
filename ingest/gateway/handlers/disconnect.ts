/** DISCONNECT from the client (MQTT 5 §3.14): a last session expiry, and whether the will goes out. */
import type { IDisconnectPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { NEVER_EXPIRES } from '../session.js';
import { RC } from './reason-codes.js';

/** DISCONNECT: ends the connection; the will goes out only with reason 0x04 (MQTT 5 §3.14.2.1). */
export function handleDisconnect(c: Connection, p: IDisconnectPacket): void {
  const session = c.session!;
  const expiry = c.v5 ? p.properties?.sessionExpiryInterval : undefined;
  if (expiry !== undefined) {
    // MQTT 5 §3.14.2.2.2: a session that was to end with the connection cannot be extended.
    if (session.expiryIntervalSec === 0 && expiry > 0) return c.close('CLIENT_ERROR', true, RC.protocolError);
    session.expiryIntervalSec = expiry === NEVER_EXPIRES ? expiry : Math.min(expiry, c.ctx.limits.maxSessionExpirySec);
  }
  // Reason 0x04 "disconnect with will message" keeps the will; a normal DISCONNECT drops it.
  c.close('CLIENT_INITIATED_DISCONNECT', c.v5 && p.reasonCode === 0x04);
}
