/**
 * Presigned URLs in job documents (AWS IoT developer guide, "Managing jobs", Presigned URLs):
 * a document may hold `${aws:iot:s3-presigned-url:<S3 URL>}` (or `-v2:`, whose URL has its key
 * percent-encoded); when a device fetches the document, each placeholder is replaced with a
 * presigned GET of that object, valid for the job's `presignedUrlConfig.expiresInSec` (60 to
 * 3600, default 3600). kiot presigns for its configured S3 endpoint (`--s3-endpoint`), whatever
 * host the placeholder names: the host only says which bucket and key are meant.
 *
 * S3 URLs (`s3Location`), path style and virtual-hosted style, with or without a region:
 * `https://s3.amazonaws.com/<bucket>/<key>`, `https://s3.<region>.amazonaws.com/<bucket>/<key>`,
 * `https://s3-<region>.amazonaws.com/<bucket>/<key>`, `https://<bucket>.s3.amazonaws.com/<key>`,
 * `https://<bucket>.s3.<region>.amazonaws.com/<key>`, `https://<bucket>.s3-<region>.amazonaws.com/<key>`
 * (and `amazonaws.com.cn`); also `s3://<bucket>/<key>`.
 *
 * Where a device gets the document, it gets it presigned: MQTT `<jobId>/get`, `$next/get`,
 * `start-next`, `<jobId>/update` with includeJobDocument, `notify-next` (`withPresignedNotifications`),
 * and the jobs data plane. The control plane's GetJobDocument and DescribeJob answer it as written.
 */
import { TOPICS, decodeEnvelope, envelopeRecord, envelopeTopic, type AppendRecord, type CommandDefinition } from '../core/index.js';
import { jobError } from './errors.js';
import { jobKey, type JobsValue } from './model.js';

/** Presigns a GET of one object on the configured S3 endpoint (cli/ wires the s3 action's client). */
export type PresignGet = (input: { bucket: string; key: string; expiresInSec: number }) => Promise<string>;

/** presignedUrlConfig.expiresInSec (API reference, PresignedUrlConfig): 60 to 3600, default 3600. */
export const PRESIGNED_URL_EXPIRY = { minSec: 60, maxSec: 3600, defaultSec: 3600 } as const;

const PLACEHOLDER = /\$\{aws:iot:s3-presigned-url(-v2)?:([^}]*)\}/g;
/** What every placeholder holds, as bytes to look for in an encoded message. */
const PLACEHOLDER_MARK = Buffer.from('${aws:iot:s3-presigned-url');

/** The bucket and key an S3 URL names, or undefined when it names none. */
export function s3Location(url: string, encodedKey = true): { bucket: string; key: string } | undefined {
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (s3) return { bucket: s3[1]!, key: s3[2]! };
  const m = /^https?:\/\/([^/]+)\/(.*)$/.exec(url.trim());
  if (!m) return undefined;
  const host = m[1]!.toLowerCase();
  const path = m[2]!.split(/[?#]/)[0]!;
  const decode = (text: string) => {
    if (!encodedKey) return text;
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  const aws = /^(?:(.+)\.)?s3(?:[.-][a-z0-9-]+)?(?:\.dualstack\.[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$/.exec(host);
  if (!aws) return undefined;
  if (aws[1] !== undefined) return path === '' ? undefined : { bucket: aws[1], key: decode(path) };
  const slash = path.indexOf('/');
  if (slash <= 0 || slash === path.length - 1) return undefined;
  return { bucket: path.slice(0, slash), key: decode(path.slice(slash + 1)) };
}

/** Whether a document holds a placeholder (CreateJob checks presignedUrlConfig only then). */
export const hasPresignedUrls = (document: string): boolean => new RegExp(PLACEHOLDER.source).test(document);

/** presignedUrlConfig.expiresInSec as given, checked; the default when there is none. */
export function expiresInSec(presignedUrlConfig: unknown): number {
  const value = (presignedUrlConfig as { expiresInSec?: unknown } | undefined)?.expiresInSec;
  if (value === undefined || value === null) return PRESIGNED_URL_EXPIRY.defaultSec;
  if (!Number.isInteger(value) || (value as number) < PRESIGNED_URL_EXPIRY.minSec || (value as number) > PRESIGNED_URL_EXPIRY.maxSec) {
    throw jobError('InvalidRequestException', `presignedUrlConfig.expiresInSec must be a whole number of seconds from ${PRESIGNED_URL_EXPIRY.minSec} to ${PRESIGNED_URL_EXPIRY.maxSec}, received ${JSON.stringify(value)}`);
  }
  return value as number;
}

/**
 * The document with every placeholder replaced by a presigned URL (JSON-escaped, as it sits in
 * a JSON string). A placeholder that names no S3 object is left as it is. Without a presigner
 * (no S3 configured), the document is answered as stored.
 */
export async function resolvePresignedUrls(document: string, presignedUrlConfig: unknown, presign: PresignGet | undefined): Promise<string> {
  if (!presign || !hasPresignedUrls(document)) return document;
  const seconds = expiresInSec(presignedUrlConfig);
  const found = [...document.matchAll(PLACEHOLDER)];
  const urls = await Promise.all(
    found.map(async (m) => {
      const location = s3Location(m[2]!, m[1] !== undefined);
      return location ? JSON.stringify(await presign({ ...location, expiresInSec: seconds })).slice(1, -1) : m[0];
    }),
  );
  let i = 0;
  return document.replace(PLACEHOLDER, () => urls[i++]!);
}

const NOTIFY_NEXT = /^\$aws\/things\/[^/]+\/jobs\/notify-next$/;

type JobsCommand = CommandDefinition<JobsValue, any, any>;

/**
 * The store's commands with `notify-next` carrying its job document presigned: a command's
 * `notify-next` records (commands.ts builds them with the document as written) are rebuilt with
 * the placeholders replaced, when the document has any. The URLs are made when the message is
 * published, as it is the device's copy of the document.
 */
export function withPresignedNotifications(commands: readonly JobsCommand[], presign: PresignGet | undefined): JobsCommand[] {
  if (!presign) return [...commands];
  return commands.map(
    (command): JobsCommand => ({
      ...command,
      async run(state, input, ctx) {
        const change = await command.run(state, input, ctx);
        if (!change.appends?.some((a) => a.topic === TOPICS.ingress)) return change;
        const presigned = async (record: AppendRecord): Promise<AppendRecord> => {
          const bytes = record.value === null ? undefined : Buffer.isBuffer(record.value) ? record.value : Buffer.from(record.value);
          // A document with a placeholder carries it as written inside the payload's JSON: most
          // notifications have none, and are passed on without decoding them.
          if (!bytes || bytes.indexOf(PLACEHOLDER_MARK) === -1 || !NOTIFY_NEXT.test(envelopeTopic(bytes) ?? '')) return record;
          const envelope = decodeEnvelope(bytes);
          const body = JSON.parse(Buffer.from(envelope.payload).toString('utf8')) as { execution?: { jobId?: string; jobDocument?: unknown } };
          const job = body.execution?.jobId === undefined ? undefined : state.get(jobKey(body.execution.jobId));
          if (job?.kind !== 'job' || body.execution!.jobDocument === undefined || !hasPresignedUrls(job.document)) return record;
          try {
            body.execution!.jobDocument = JSON.parse(await resolvePresignedUrls(job.document, job.configs['presignedUrlConfig'], presign)) as unknown;
          } catch {
            // The change stands whatever S3's presigner says; the device gets the document as written, and presigned when it asks for it.
            return record;
          }
          return { ...record, ...envelopeRecord({ ...envelope, payload: Buffer.from(JSON.stringify(body)) }) };
        };
        const appends = await Promise.all(change.appends.map(async (a) => (a.topic === TOPICS.ingress ? { ...a, records: await Promise.all(a.records.map(presigned)) } : a)));
        return { ...change, appends };
      },
    }),
  );
}
