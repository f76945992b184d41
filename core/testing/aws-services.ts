/**
 * The services {@link startAwsServices} hosts in kiot's tests: for each, the operations the rule
 * actions call, with the members the API model requires, the limits AWS documents and AWS's
 * error names, over an in-memory store the test reads back. Only what the actions use is here;
 * anything else is an UnknownOperationException.
 */
import { createHash, randomUUID } from 'node:crypto';
import { AwsServiceError, type AwsServiceSpec } from './aws-service.js';

const ACCOUNT = '000000000000';
const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

/** SQS over its JSON protocol (`AmazonSQS.<Operation>`, what @aws-sdk/client-sqs sends since 3.446). */
export function sqsService(region = 'us-east-1') {
  /** Queue URL -> message bodies, in order of arrival. */
  const queues = new Map<string, string[]>();
  // SQS quotas: 1 MiB per message and per batch (raised from 256 KiB in 2025), 10 entries per batch.
  const MAX_BYTES = 1024 * 1024;
  const queue = (url: string): string[] => {
    const q = queues.get(url);
    if (!q) throw new AwsServiceError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
    return q;
  };
  const spec: AwsServiceSpec = {
    signingName: 'sqs',
    protocol: 'json',
    target: 'AmazonSQS',
    operations: {
      SendMessageBatch: {
        required: ['QueueUrl', 'Entries'],
        handle({ QueueUrl, Entries }) {
          const q = queue(QueueUrl);
          const entries = Entries as { Id: string; MessageBody: string }[];
          if (entries.length === 0) throw new AwsServiceError('AWS.SimpleQueueService.EmptyBatchRequest', 'There should be at least one SendMessageBatchRequestEntry in the request.');
          if (entries.length > 10) throw new AwsServiceError('AWS.SimpleQueueService.TooManyEntriesInBatchRequest', `Maximum number of entries per request are 10. You have sent ${entries.length}.`);
          if (new Set(entries.map((e) => e.Id)).size !== entries.length) throw new AwsServiceError('AWS.SimpleQueueService.BatchEntryIdsNotDistinct', 'Two or more batch entries in the request have the same Id.');
          const total = entries.reduce((n, e) => n + Buffer.byteLength(e.MessageBody ?? ''), 0);
          if (entries.length > 1 && total > MAX_BYTES) throw new AwsServiceError('AWS.SimpleQueueService.BatchRequestTooLong', `Batch requests cannot be longer than ${MAX_BYTES} bytes. You have sent ${total} bytes.`);
          const Successful = [];
          const Failed = [];
          for (const e of entries) {
            const bytes = Buffer.byteLength(e.MessageBody ?? '');
            // SQS allows #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF in a body.
            if (/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(e.MessageBody ?? '')) {
              Failed.push({ Id: e.Id, SenderFault: true, Code: 'InvalidMessageContents', Message: 'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF' });
            } else if (bytes > MAX_BYTES) {
              throw new AwsServiceError('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${MAX_BYTES} bytes.`);
            } else {
              q.push(e.MessageBody);
              Successful.push({ Id: e.Id, MessageId: randomUUID(), MD5OfMessageBody: md5(e.MessageBody) });
            }
          }
          return { Successful, Failed };
        },
      },
    },
  };
  return {
    spec,
    queues,
    /** Creates a queue and returns its URL. */
    createQueue(name: string, endpoint: string): string {
      const url = `${endpoint}/${ACCOUNT}/${name}`;
      queues.set(url, []);
      return url;
    },
    region,
  };
}
