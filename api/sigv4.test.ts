import { describe, expect, test } from 'vitest';
import { PlatformError } from '../core/index.js';
import { canonicalUri, verifySigV4, type SignedRequest } from './sigv4.js';

// The requests of AWS's SigV4 test suite (get-vanilla, get-vanilla-query-order-key-case,
// post-vanilla) sent to a loopback host; signatures made by the AWS SDK's own signer
// (@smithy/signature-v4) with the suite's key and date.
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const NOW = Date.UTC(2015, 7, 30, 12, 36, 0);
const options = { now: NOW, secretFor: (id: string) => (id === 'AKIDEXAMPLE' ? SECRET : undefined), services: new Set(['service']) };
const signed = (method: string, url: string, signature: string, credential = 'AKIDEXAMPLE/20150830/us-east-1/service/aws4_request'): SignedRequest => ({
  method,
  url,
  body: Buffer.alloc(0),
  headers: { host: '127.0.0.1:8080', 'x-amz-date': '20150830T123600Z', authorization: `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=host;x-amz-date, Signature=${signature}` },
});
const GET_VANILLA = '5ca705ff38b3a4cef6d879b72b9921a5dabfad3391521ce910f90221bac12cb4';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof PlatformError ? err.code : 'not a PlatformError';
  }
  return undefined;
};

describe('verifySigV4', () => {
  test.each([
    ['GET', '/', GET_VANILLA],
    ['GET', '/?Param2=value2&Param1=value1', 'f9ffeb99cc8e95e77394ff4b2f71d24ac6373c9d42ad539ecc064411648164fc'],
    ['POST', '/', '6440e28ef09e3d63ec1f78a7f864f748cd003efab362f4c6104e4230b0d89242'],
  ])('accepts the AWS test-suite request %s %s', (method, url, signature) => {
    expect(verifySigV4(signed(method, url, signature), options)).toEqual({ accessKeyId: 'AKIDEXAMPLE', region: 'us-east-1', service: 'service', signedAt: NOW });
  });

  test('refuses a changed request, an unknown key, a stale or future date, a wrong scope, and no signature', () => {
    expect(codeOf(() => verifySigV4(signed('GET', '/other', GET_VANILLA), options))).toBe('AUTH_SIGNATURE_INVALID');
    expect(codeOf(() => verifySigV4({ ...signed('GET', '/', GET_VANILLA), body: Buffer.from('x') }, options))).toBe('AUTH_SIGNATURE_INVALID');
    expect(codeOf(() => verifySigV4(signed('GET', '/', GET_VANILLA, 'AKIDOTHER/20150830/us-east-1/service/aws4_request'), options))).toBe('AUTH_UNKNOWN_KEY');
    expect(codeOf(() => verifySigV4(signed('GET', '/', GET_VANILLA), { ...options, now: NOW + 16 * 60_000 }))).toBe('AUTH_SIGNATURE_EXPIRED');
    expect(codeOf(() => verifySigV4(signed('GET', '/', GET_VANILLA), { ...options, now: NOW - 16 * 60_000 }))).toBe('AUTH_SIGNATURE_EXPIRED');
    expect(verifySigV4(signed('GET', '/', GET_VANILLA), { ...options, now: NOW + 14 * 60_000 }).accessKeyId).toBe('AKIDEXAMPLE');
    expect(codeOf(() => verifySigV4(signed('GET', '/', GET_VANILLA), { ...options, region: 'eu-west-1' }))).toBe('AUTH_SIGNATURE_INVALID');
    expect(codeOf(() => verifySigV4(signed('GET', '/', GET_VANILLA), { ...options, services: new Set(['iot']) }))).toBe('AUTH_SIGNATURE_INVALID');
    expect(codeOf(() => verifySigV4(signed('GET', '/', GET_VANILLA, 'AKIDEXAMPLE/20150831/us-east-1/service/aws4_request'), options))).toBe('AUTH_SIGNATURE_INVALID');
    expect(codeOf(() => verifySigV4(signed('GET', '/', GET_VANILLA, 'garbage'), options))).toBe('AUTH_SIGNATURE_INVALID');
    expect(codeOf(() => verifySigV4({ method: 'GET', url: '/', body: Buffer.alloc(0), headers: { host: 'h' } }, options))).toBe('AUTH_MISSING');
  });

  test('canonical URIs are normalized and encoded a second time, as the SDKs sign them', () => {
    expect(canonicalUri('/things/a%3Ab')).toBe('/things/a%253Ab');
    expect(canonicalUri('/a/./b/../c/')).toBe('/a/c/');
    expect(canonicalUri('/')).toBe('/');
  });
});
