/**
 * CreateJob's (and CreateJobTemplate's) `documentSource`: "An S3 link to the job document"
 * (API reference, CreateJob), read once when the job is created from the configured S3
 * endpoint (`--s3-endpoint`); the job keeps the document itself, as one given inline.
 */
import { PlatformError } from '../core/index.js';
import { jobError } from './errors.js';
import { s3Location } from './presign.js';

/** Reads one object's bytes from the configured S3 endpoint (cli/ wires the s3 action's client). */
export type ReadObject = (input: { bucket: string; key: string }) => Promise<Uint8Array>;

/** What an S3 error says, without naming the SDK's types. */
const s3ErrorOf = (err: unknown): { name: string; status: number | undefined } => ({
  name: (err as { name?: string }).name ?? '',
  status: (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode,
});

/**
 * The document at `source`.
 * @throws InvalidRequestException when the URL names no S3 object, or the object does not exist
 *   or cannot be read (as AWS IoT refuses a documentSource it cannot read); a retriable
 *   SINK_UNAVAILABLE when S3 does not answer.
 */
export async function readDocumentSource(source: string, read: ReadObject | undefined): Promise<string> {
  const location = s3Location(source);
  if (!location) throw jobError('InvalidRequestException', `documentSource: ${JSON.stringify(source)} is not an S3 URL (https://s3.amazonaws.com/<bucket>/<key> or https://<bucket>.s3.amazonaws.com/<key>)`);
  if (!read) throw jobError('InvalidRequestException', 'documentSource: kiot has no S3 endpoint configured (--s3-endpoint); pass the job document inline as document');
  let bytes: Uint8Array;
  try {
    bytes = await read(location);
  } catch (err) {
    const { name, status } = s3ErrorOf(err);
    if (status !== undefined && status < 500) {
      const why = name === 'NoSuchKey' || name === 'NotFound' ? 'the object does not exist' : name === 'NoSuchBucket' ? 'the bucket does not exist' : `S3 answered ${status} ${name}`;
      throw jobError('InvalidRequestException', `documentSource: cannot read s3://${location.bucket}/${location.key}: ${why}`);
    }
    throw new PlatformError('SINK_UNAVAILABLE', `documentSource: S3 did not answer for s3://${location.bucket}/${location.key}`, { cause: err, retriable: true, details: { awsErrorType: 'ServiceUnavailableException', awsStatus: 503 } });
  }
  return Buffer.from(bytes).toString('utf8');
}
