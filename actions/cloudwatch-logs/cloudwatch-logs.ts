/**
 * `cloudwatch_logs`: writes each rule output as a log event (AWS IoT developer guide,
 * cloudwatch-logs-rule-action; API reference, CloudwatchLogsAction): `log_group_name` (template)
 * and `batch_mode`. Without batch_mode the event's message is the output as JSON, timestamped
 * when the message arrived; with it, the output must be an array of
 * `{"timestamp": <ms since the epoch>, "message": "..."}` and each element is an event, as AWS
 * IoT takes device-side logs. kiot writes to the log stream named after the rule, which it
 * creates on first use (AWS IoT's role needs logs:CreateLogStream for the same reason). A batch
 * is one PutLogEvents per group and stream (10,000 events, 1 MiB counting 26 bytes per event),
 * sorted by time as the API requires; events CloudWatch Logs rejects as too old, too new or
 * expired fail their records alone. This is the one place that imports `@aws-sdk/client-cloudwatch-logs`.
 */
import type { CloudWatchLogsClient, InputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { z } from 'zod';
import { awsAction, type EntryError } from '../aws/index.js';
import { outputBytes } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';

/** PutLogEvents limits (CloudWatch Logs API reference). */
export const LOGS_MAX_EVENTS = 10_000;
export const LOGS_MAX_REQUEST_BYTES = 1_048_576;
const EVENT_OVERHEAD_BYTES = 26;

const schema = paramsSchema({
  log_group_name: z.string().min(1),
  batch_mode: z.boolean().optional(),
  role_arn: z.string().optional(),
});

export type CloudwatchLogsConfig = ReturnType<typeof schema.parse>;

function logEvents(output: unknown, batchMode: boolean | undefined, receivedAt: number): InputLogEvent[] | string {
  if (!batchMode) return [{ timestamp: receivedAt, message: outputBytes(output).toString('utf8') }];
  if (!Array.isArray(output)) return 'batch_mode needs the rule output to be an array of {"timestamp", "message"}';
  const events: InputLogEvent[] = [];
  for (const [i, e] of output.entries()) {
    const ok = e !== null && typeof e === 'object' && Number.isFinite((e as { timestamp?: unknown }).timestamp) && typeof (e as { message?: unknown }).message === 'string';
    if (!ok) return `batch_mode: element ${i} is not {"timestamp": <ms>, "message": "<text>"}`;
    events.push({ timestamp: (e as { timestamp: number }).timestamp, message: (e as { message: string }).message });
  }
  return events;
}

type LogsSdk = typeof import('@aws-sdk/client-cloudwatch-logs');

export const createCloudwatchLogsDefinition = awsAction<CloudwatchLogsConfig, InputLogEvent, LogsSdk, CloudWatchLogsClient>({
  type: 'cloudwatch_logs',
  awsKey: 'cloudwatchLogs',
  summary: 'write each output as a CloudWatch Logs event (PutLogEvents to the rule\'s log stream)',
  config: schema,
  resourceParams: ['log_group_name'],
  maxBatchSize: 500,
  load: () => import('@aws-sdk/client-cloudwatch-logs'),
  client: (m, options) => new m.CloudWatchLogsClient(options) as CloudWatchLogsClient,
  request: () => {
    const streams = new Set<string>();
    return {
      target: 'CloudWatch Logs',
      maxEntries: LOGS_MAX_EVENTS,
      maxRequestBytes: LOGS_MAX_REQUEST_BYTES,
      group: (r) => `${r.params.log_group_name}:${r.ruleName}`,
      entries: (record) => logEvents(record.output, record.params.batch_mode, record.receivedAt),
      size: (e) => Buffer.byteLength(e.message!) + EVENT_OVERHEAD_BYTES,
      async send({ sdk: m, client }, record, events, signal) {
        const group = record.params.log_group_name;
        const stream = record.ruleName;
        if (!streams.has(`${group}:${stream}`)) {
          try {
            await client.send(new m.CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }), { abortSignal: signal });
          } catch (err) {
            if ((err as Error).name !== 'ResourceAlreadyExistsException') throw err;
          }
          streams.add(`${group}:${stream}`);
        }
        // PutLogEvents wants the events in chronological order; answers index the sorted list.
        const order = events.map((_, i) => i).sort((a, b) => events[a]!.timestamp! - events[b]!.timestamp!);
        const out = await client.send(new m.PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: order.map((i) => events[i]!) }), { abortSignal: signal });
        const results: (EntryError | undefined)[] = events.map(() => undefined);
        const info = out.rejectedLogEventsInfo;
        order.forEach((original, sorted) => {
          const reason =
            info?.tooOldLogEventEndIndex !== undefined && sorted <= info.tooOldLogEventEndIndex ? 'TooOldLogEvent'
            : info?.expiredLogEventEndIndex !== undefined && sorted <= info.expiredLogEventEndIndex ? 'ExpiredLogEvent'
            : info?.tooNewLogEventStartIndex !== undefined && sorted >= info.tooNewLogEventStartIndex ? 'TooNewLogEvent'
            : undefined;
          if (reason) results[original] = { code: reason, message: `CloudWatch Logs rejected the event (timestamp ${events[original]!.timestamp})`, retriable: false };
        });
        return results;
      },
    };
  },
});

export const cloudwatchLogsAction = createCloudwatchLogsDefinition();
