import { describe, expect, test } from 'vitest';
import type { SqlValue } from '../values.js';
import { call, callFunction } from './test-context.js';
import { isPlatformError } from '../../../core/index.js';

type Case = [name: string, args: SqlValue[], expected: SqlValue];

const CASES: Case[] = [
  // Hashing functions: the guide's examples, then standard conversions
  ['md2', ['hello'], 'a9046c73e00331af68917d3804f70655'],
  ['md5', ['hello'], '5d41402abc4b2a76b9719d911017c592'],
  ['sha1', ['hello'], 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d'],
  ['sha224', ['hello'], 'ea09ae9cc6768c50fcee903ed054556e5bfc8347907f12598aa24193'],
  ['sha256', ['hello'], '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'],
  ['sha384', ['hello'], '59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa90125a3c79f90397bdf5f6a13de828684f'],
  ['sha512', ['hello'], '9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043'],
  ['md5', [12], 'c20ad4d76fe97759aa27a0c99bff6710'],
  ['md5', [null], undefined],
  // encode
  ['encode', ['hello', 'base64'], 'aGVsbG8='],
  ['encode', [{ a: 1 }, 'base64'], Buffer.from('{"a":1}').toString('base64')],
  ['encode', [Buffer.from([0, 1, 255]), 'base64'], 'AAH/'],
  ['encode', ['hello', 'hex'], undefined],
  ['encode', [null, 'base64'], undefined],
  // decode: the guide's example, then a non-JSON string and invalid input
  ['decode', ['eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg==', 'base64'], { temperature: 33 }],
  ['decode', ['aGVsbG8=', 'base64'], 'hello'],
  ['decode', ['not base64!', 'base64'], null],
  ['decode', ['aGVsbG8=', 'rot13'], undefined],
  ['decode', [undefined, 'base64'], undefined],
];

describe('encoding and hashing functions', () => {
  test.each(CASES)('%s(%o) = %o', (name, args, expected) => {
    expect(call(name, ...args)).toEqual(expected);
  });

  test('decode(encoded_temp, "base64").temperature reads 33, as in the guide', () => {
    const decoded = call('decode', 'eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg==', 'base64') as { temperature: number };
    expect(decoded.temperature).toBe(33);
  });

  test('decode with the proto scheme is refused at compile time', () => {
    expect(() => callFunction('decode', ['*', 'proto', 'bucket', 'key', 'desc', 'Msg'])).toThrow(
      expect.objectContaining({ code: 'RULES_SQL_SEMANTIC' }),
    );
    try {
      callFunction('decode', ['*', 'proto', 'b', 'k', 'd', 'M']);
    } catch (err) {
      expect(isPlatformError(err, 'RULES_SQL_SEMANTIC')).toBe(true);
    }
  });

  test('newuuid returns a fresh random UUID each call', () => {
    const a = call('newuuid');
    const b = call('newuuid');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });
});
