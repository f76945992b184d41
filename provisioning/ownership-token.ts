/**
 * Certificate ownership tokens (AWS IoT developer guide, "Device provisioning MQTT API"):
 * CreateKeysAndCertificate and CreateCertificateFromCsr answer one, and RegisterThing takes it
 * back as proof that the caller holds the certificate it just made. AWS leaves the token
 * opaque; kiot's is signed, not stored, so any process with the secret can check it:
 *
 *   v1.<base64url(JSON {"c": certificateId, "e": expiresAtMs, "n": nonce})>.<base64url(HMAC-SHA256(secret, "v1." + body))>
 *
 * The nonce names the token for its single use: RegisterThing spends it in the same registry
 * command that writes the device (apply.ts `once`, key `kiot/once/fleet-<nonce>`), so a token
 * is spent exactly when a device was provisioned with it, and a second use finds the mark.
 *
 * The secret is 32 random bytes in `<data-dir>/provisioning/ownership-token.key` (mode 0600),
 * made on first start. Processes that share a Kafka cluster must share that file.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PlatformError } from '../core/index.js';

/** How long a token may be used (AWS: a certificate's ownership token is good for one hour). */
export const OWNERSHIP_TOKEN_TTL_MS = 60 * 60_000;

const VERSION = 'v1';
const SECRET_BYTES = 32;

export type TokenCheck =
  | { readonly ok: true; readonly certificateId: string; readonly tokenId: string; readonly expiresAt: number }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'forged' | 'expired' };

export interface OwnershipTokens {
  /** A new token for a certificate made just now. */
  issue(certificateId: string): string;
  /** Checks signature and expiry; never throws. Whether it was spent is the registry's to say. */
  verify(token: unknown): TokenCheck;
}

export function createOwnershipTokens(options: { readonly secret: Buffer; readonly now?: () => number; readonly ttlMs?: number }): OwnershipTokens {
  if (options.secret.length < 16) throw new PlatformError('CONFIG_INVALID', 'ownership token secret: expected at least 16 bytes');
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? OWNERSHIP_TOKEN_TTL_MS;
  const sign = (body: string): Buffer => createHmac('sha256', options.secret).update(`${VERSION}.${body}`).digest();
  return {
    issue(certificateId) {
      const body = Buffer.from(JSON.stringify({ c: certificateId, e: now() + ttlMs, n: randomBytes(16).toString('hex') })).toString('base64url');
      return `${VERSION}.${body}.${sign(body).toString('base64url')}`;
    },
    verify(token) {
      if (typeof token !== 'string' || token === '') return { ok: false, reason: 'missing' };
      const parts = token.split('.');
      if (parts.length !== 3 || parts[0] !== VERSION) return { ok: false, reason: 'malformed' };
      const [, body, mac] = parts as [string, string, string];
      const given = Buffer.from(mac, 'base64url');
      const wanted = sign(body);
      if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return { ok: false, reason: 'forged' };
      let claims: { c?: unknown; e?: unknown; n?: unknown };
      try {
        claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof claims;
      } catch {
        return { ok: false, reason: 'malformed' };
      }
      if (typeof claims.c !== 'string' || typeof claims.e !== 'number' || typeof claims.n !== 'string') return { ok: false, reason: 'malformed' };
      if (claims.e <= now()) return { ok: false, reason: 'expired' };
      return { ok: true, certificateId: claims.c, tokenId: claims.n, expiresAt: claims.e };
    },
  };
}

/** `<dataDir>/provisioning/ownership-token.key`, made (32 random bytes, mode 0600) when missing. */
export async function loadOwnershipSecret(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, 'provisioning', 'ownership-token.key');
  try {
    const secret = await readFile(path);
    if (secret.length >= SECRET_BYTES) return secret;
    throw new PlatformError('CONFIG_INVALID', `${path}: expected ${SECRET_BYTES} bytes, found ${secret.length}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dirname(path), { recursive: true });
  const secret = randomBytes(SECRET_BYTES);
  // Written whole under a temporary name, then linked into place: a process that loses the race reads a complete file.
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, secret, { mode: 0o600 });
  try {
    await link(temporary, path);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFile(path);
    throw err;
  } finally {
    await unlink(temporary);
  }
}
