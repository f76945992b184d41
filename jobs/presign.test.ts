/** Presigned URL placeholders in job documents (presign.ts), with a fake presigner. */
import { expect, test } from 'vitest';
import { expiresInSec, resolvePresignedUrls, s3Location, type PresignGet } from './presign.js';

test('S3 URLs: path style and virtual-hosted style, with or without a region', () => {
  const cases: [string, { bucket: string; key: string } | undefined][] = [
    ['https://s3.amazonaws.com/bucket/dir/key.bin', { bucket: 'bucket', key: 'dir/key.bin' }],
    ['https://s3.eu-west-1.amazonaws.com/bucket/key', { bucket: 'bucket', key: 'key' }],
    ['https://s3-eu-west-1.amazonaws.com/bucket/key', { bucket: 'bucket', key: 'key' }],
    ['https://bucket.s3.amazonaws.com/dir/key', { bucket: 'bucket', key: 'dir/key' }],
    ['https://my.bucket.s3.us-east-2.amazonaws.com/key', { bucket: 'my.bucket', key: 'key' }],
    ['https://bucket.s3-us-west-2.amazonaws.com/key', { bucket: 'bucket', key: 'key' }],
    ['https://bucket.s3.cn-north-1.amazonaws.com.cn/key', { bucket: 'bucket', key: 'key' }],
    ['s3://bucket/key', { bucket: 'bucket', key: 'key' }],
    ['https://s3.amazonaws.com/bucket/a%20b', { bucket: 'bucket', key: 'a b' }],
    ['https://example.com/bucket/key', undefined],
    ['https://s3.amazonaws.com/bucket', undefined],
    ['https://bucket.s3.amazonaws.com/', undefined],
    ['not a url', undefined],
  ];
  for (const [url, expected] of cases) expect([url, s3Location(url)]).toEqual([url, expected]);
  // The v1 placeholder's key is taken as written.
  expect(s3Location('https://s3.amazonaws.com/bucket/a%20b', false)).toEqual({ bucket: 'bucket', key: 'a%20b' });
});

test('every placeholder is replaced, JSON-escaped; an unknown host is left as written', async () => {
  const asked: unknown[] = [];
  const presign: PresignGet = async (input) => {
    asked.push(input);
    return `http://s3.local/${input.bucket}/${input.key}?sig="x"`;
  };
  const document = JSON.stringify({
    a: '${aws:iot:s3-presigned-url:https://s3.amazonaws.com/b1/k 1}',
    b: '${aws:iot:s3-presigned-url-v2:https://b2.s3.amazonaws.com/k%202}',
    c: '${aws:iot:s3-presigned-url:https://example.com/x/y}',
  });
  const resolved = JSON.parse(await resolvePresignedUrls(document, { expiresInSec: 90 }, presign)) as Record<string, string>;
  expect(resolved).toEqual({ a: 'http://s3.local/b1/k 1?sig="x"', b: 'http://s3.local/b2/k 2?sig="x"', c: '${aws:iot:s3-presigned-url:https://example.com/x/y}' });
  expect(asked).toEqual([{ bucket: 'b1', key: 'k 1', expiresInSec: 90 }, { bucket: 'b2', key: 'k 2', expiresInSec: 90 }]);
  // No presigner (no S3), or no placeholder: the document as it is.
  expect(await resolvePresignedUrls(document, undefined, undefined)).toBe(document);
  expect(await resolvePresignedUrls('{"a":1}', undefined, presign)).toBe('{"a":1}');
});

test('presignedUrlConfig.expiresInSec: 60 to 3600, default 3600', () => {
  expect(expiresInSec(undefined)).toBe(3600);
  expect(expiresInSec({ roleArn: 'r' })).toBe(3600);
  expect(expiresInSec({ expiresInSec: 60 })).toBe(60);
  for (const bad of [59, 3601, 1.5, '100']) expect(() => expiresInSec({ expiresInSec: bad })).toThrow(/60 to 3600/);
});
