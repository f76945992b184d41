/**
 * Jobs and S3 inside `kiot up` (in-process, embedded log) with s3rver as the configured S3
 * endpoint (`--s3-endpoint`, credentials from the AWS SDK's chain): presigned URL placeholders
 * in a job document become presigned GETs when a device gets the document (MQTT get, start-next,
 * notify-next, and the jobs data plane), and the device downloads the object with one; CreateJob's documentSource reads
 * the document from S3 (`@aws-sdk/client-iot`).
 */
import { CreateJobCommand, CreateThingCommand, GetJobDocumentCommand, IoTClient } from '@aws-sdk/client-iot';
import { DescribeJobExecutionCommand, IoTJobsDataPlaneClient } from '@aws-sdk/client-iot-jobs-data-plane';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { createS3Api, type S3Api } from '../actions/index.js';
import { startS3rver, type S3rverServer } from '../actions/s3/testing/s3rver.js';
import { startTestPlatform, type TestPlatform } from '../cli/testing.js';
import { waitUntil } from '../core/testing/run-log-suite.js';

let s3: S3rverServer;
let s3Api: S3Api;
let kiot: TestPlatform;
let iot: IoTClient;
let device: mqtt.MqttClient;
let arn = '';
const received: { topic: string; body: Record<string, any> }[] = [];
const BASE = '$aws/things/fetcher/jobs';
const FIRMWARE = Buffer.from('firmware image v1 \u0000\u0001\u0002');
const SECOND = Buffer.from('the second file');

beforeAll(async () => {
  s3 = await startS3rver(['firmware']);
  // Credentials from the AWS SDK's chain (the environment here), as in production.
  vi.stubEnv('AWS_ACCESS_KEY_ID', s3.settings.credentials!.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.settings.credentials!.secretAccessKey);
  s3Api = createS3Api(s3.settings);
  await s3Api.putObject({ bucket: 'firmware', key: 'fw/v1.bin', body: FIRMWARE, contentType: 'application/octet-stream' }, AbortSignal.timeout(5_000));
  await s3Api.putObject({ bucket: 'firmware', key: 'fw/v 2.bin', body: SECOND, contentType: 'application/octet-stream' }, AbortSignal.timeout(5_000));
  kiot = await startTestPlatform({}, { s3Endpoint: s3.settings.endpoint!, s3ForcePathStyle: 'true', awsRegion: 'us-east-1' });
  iot = kiot.client(IoTClient);
  arn = (await iot.send(new CreateThingCommand({ thingName: 'fetcher' }))).thingArn!;
  device = await mqtt.connectAsync(`mqtt://127.0.0.1:${kiot.platform.listeners.get('mqtt')}`, { clientId: 'fetcher', protocolVersion: 5, reconnectPeriod: 0 });
  device.on('message', (topic, payload) => received.push({ topic, body: JSON.parse(payload.toString()) as Record<string, any> }));
  await device.subscribeAsync(`${BASE}/#`, { qos: 1 });
}, 60_000);

afterAll(async () => {
  await device?.endAsync();
  await kiot?.stop();
  s3Api?.destroy();
  await s3?.close();
  vi.unstubAllEnvs();
});

async function ask(topic: string, body: unknown): Promise<{ accepted: boolean; body: Record<string, any> }> {
  const from = received.length;
  await device.publishAsync(topic, JSON.stringify(body), { qos: 1 });
  let reply: { topic: string; body: Record<string, any> } | undefined;
  await waitUntil(() => (reply = received.slice(from).find((m) => m.topic === `${topic}/accepted` || m.topic === `${topic}/rejected`)) !== undefined, `a reply to ${topic}`, 15_000);
  return { accepted: reply!.topic.endsWith('/accepted'), body: reply!.body };
}

const download = async (url: string): Promise<{ status: number; body: Buffer }> => {
  const res = await fetch(url);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
};

const awsError = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a refusal'); }, (err: { name: string; $metadata: { httpStatusCode?: number }; message: string }) => err);

test('placeholders become presigned GETs of the configured S3 endpoint when the device fetches the document', async () => {
  const document = JSON.stringify({
    op: 'install',
    // v1: the key as written; v2: the key percent-encoded. Path style and virtual-hosted style.
    files: [{ url: '${aws:iot:s3-presigned-url:https://s3.amazonaws.com/firmware/fw/v1.bin}' }, { url: '${aws:iot:s3-presigned-url-v2:https://firmware.s3.us-west-2.amazonaws.com/fw/v%202.bin}' }],
  });
  await iot.send(new CreateJobCommand({ jobId: 'fw-presigned', targets: [arn], document, presignedUrlConfig: { roleArn: 'arn:aws:iam::123456789012:role/jobs', expiresInSec: 120 } }));
  // The control plane answers the document as it was given.
  expect((await iot.send(new GetJobDocumentCommand({ jobId: 'fw-presigned' }))).document).toBe(document);

  // notify-next carries the document presigned as well.
  let notified: Record<string, any> | undefined;
  await waitUntil(() => (notified = received.find((m) => m.topic === `${BASE}/notify-next` && m.body.execution?.jobId === 'fw-presigned')?.body) !== undefined, 'notify-next', 15_000);
  expect(await download(notified!.execution.jobDocument.files[0].url as string)).toEqual({ status: 200, body: FIRMWARE });

  const got = await ask(`${BASE}/fw-presigned/get`, {});
  expect(got.accepted).toBe(true);
  const [first, second] = got.body.execution.jobDocument.files.map((f: { url: string }) => f.url) as string[];
  expect(first!.startsWith(`${s3.settings.endpoint}/firmware/fw/v1.bin?`)).toBe(true);
  expect(new URL(first!).searchParams.get('X-Amz-Expires')).toBe('120');
  expect(await download(first!)).toEqual({ status: 200, body: FIRMWARE });
  expect(await download(second!)).toEqual({ status: 200, body: SECOND });
  // (s3rver does not check query-string signatures, so the URL's signing is the SDK presigner's, not tested here.)
  expect(new URL(first!).searchParams.get('X-Amz-Credential')).toMatch(/^S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request$/);

  // start-next answers it presigned too, and so does the jobs data plane.
  const started = await ask(`${BASE}/start-next`, {});
  expect(started.body.execution.jobDocument.files[0].url).toMatch(/X-Amz-Signature=/);
  const jobsData = kiot.client(IoTJobsDataPlaneClient);
  const described = await jobsData.send(new DescribeJobExecutionCommand({ thingName: 'fetcher', jobId: 'fw-presigned' }));
  const fromDataPlane = JSON.parse(described.execution!.jobDocument!) as { files: { url: string }[] };
  expect(await download(fromDataPlane.files[0]!.url)).toEqual({ status: 200, body: FIRMWARE });
});

test('without presignedUrlConfig.expiresInSec the URLs last 3600 s', async () => {
  await iot.send(new CreateJobCommand({ jobId: 'fw-default', targets: [arn], document: '{"url":"${aws:iot:s3-presigned-url:https://firmware.s3.amazonaws.com/fw/v1.bin}"}' }));
  const got = await ask(`${BASE}/fw-default/get`, {});
  expect(new URL(got.body.execution.jobDocument.url as string).searchParams.get('X-Amz-Expires')).toBe('3600');
});

test('CreateJob reads documentSource from S3; a missing object is InvalidRequestException', async () => {
  const document = '{"op":"from-s3","url":"${aws:iot:s3-presigned-url:https://s3.amazonaws.com/firmware/fw/v1.bin}"}';
  await s3Api.putObject({ bucket: 'firmware', key: 'docs/job.json', body: Buffer.from(document), contentType: 'application/json' }, AbortSignal.timeout(5_000));
  await iot.send(new CreateJobCommand({ jobId: 'from-source', targets: [arn], documentSource: 'https://s3.amazonaws.com/firmware/docs/job.json' }));
  expect((await iot.send(new GetJobDocumentCommand({ jobId: 'from-source' }))).document).toBe(document);
  const got = await ask(`${BASE}/from-source/get`, {});
  expect(got.body.execution.jobDocument.op).toBe('from-s3');
  expect(await download(got.body.execution.jobDocument.url as string)).toEqual({ status: 200, body: FIRMWARE });

  const missing = await awsError(iot.send(new CreateJobCommand({ jobId: 'no-source', targets: [arn], documentSource: 'https://firmware.s3.amazonaws.com/docs/nope.json' })));
  expect([missing.name, missing.$metadata.httpStatusCode]).toEqual(['InvalidRequestException', 400]);
  expect(missing.message).toContain('does not exist');
  const noBucket = await awsError(iot.send(new CreateJobCommand({ jobId: 'no-bucket', targets: [arn], documentSource: 'https://s3.amazonaws.com/elsewhere/job.json' })));
  expect(noBucket.name).toBe('InvalidRequestException');
});
