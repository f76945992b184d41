import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { createOwnershipTokens, loadOwnershipSecret, OWNERSHIP_TOKEN_TTL_MS } from './ownership-token.js';

const secret = Buffer.alloc(32, 1);

test('a token names its certificate until it expires, and any other bytes are refused', () => {
  let now = 1_000_000;
  const tokens = createOwnershipTokens({ secret, now: () => now });
  const token = tokens.issue('abc');
  const checked = tokens.verify(token);
  expect(checked).toMatchObject({ ok: true, certificateId: 'abc', expiresAt: 1_000_000 + OWNERSHIP_TOKEN_TTL_MS });
  expect(tokens.issue('abc')).not.toBe(token); // each token has its own nonce (its single use)
  expect(createOwnershipTokens({ secret: Buffer.alloc(32, 2) }).verify(token)).toEqual({ ok: false, reason: 'forged' });
  expect(tokens.verify(`${token}x`)).toMatchObject({ ok: false });
  expect(tokens.verify('v1.e30.')).toEqual({ ok: false, reason: 'forged' });
  expect(tokens.verify('nope')).toEqual({ ok: false, reason: 'malformed' });
  expect(tokens.verify('')).toEqual({ ok: false, reason: 'missing' });
  expect(tokens.verify(42)).toEqual({ ok: false, reason: 'missing' });
  now += OWNERSHIP_TOKEN_TTL_MS;
  expect(tokens.verify(token)).toEqual({ ok: false, reason: 'expired' });
});

test('the secret is made once in the data dir, private to its owner', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-token-'));
  try {
    const [a, b] = await Promise.all([loadOwnershipSecret(dir), loadOwnershipSecret(dir)]);
    expect(a.length).toBe(32);
    expect(b.equals(a)).toBe(true);
    expect((await loadOwnershipSecret(dir)).equals(a)).toBe(true);
    expect((await stat(join(dir, 'provisioning', 'ownership-token.key'))).mode & 0o777).toBe(0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
