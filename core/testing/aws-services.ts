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

/** Firehose (`Firehose_20150804.<Operation>`): delivery stream name -> records as delivered bytes. */
export function firehoseService() {
  const streams = new Map<string, Buffer[]>();
  /** Records (by content) that the next PutRecordBatch answers with ServiceUnavailableException, as a busy stream does. */
  const throttled = new Set<string>();
  // Firehose quotas: 500 records and 4 MiB per PutRecordBatch, 1,000 KiB per record.
  const MAX_RECORD = 1_024_000;
  const spec: AwsServiceSpec = {
    signingName: 'firehose',
    protocol: 'json',
    target: 'Firehose_20150804',
    operations: {
      PutRecordBatch: {
        required: ['DeliveryStreamName', 'Records'],
        handle({ DeliveryStreamName, Records }) {
          const stream = streams.get(DeliveryStreamName);
          if (!stream) throw new AwsServiceError('ResourceNotFoundException', `Firehose ${DeliveryStreamName} under account ${ACCOUNT} not found.`);
          const records = (Records as { Data: string }[]).map((r) => Buffer.from(r.Data, 'base64'));
          if (records.length > 500) throw new AwsServiceError('ValidationException', `1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to 500`);
          records.forEach((r, i) => {
            if (r.length > MAX_RECORD) throw new AwsServiceError('ValidationException', `1 validation error detected: Value at 'records.${i + 1}.member.data' failed to satisfy constraint: Member must have length less than or equal to ${MAX_RECORD}`);
          });
          const RequestResponses = records.map((r) => {
            if (throttled.delete(r.toString())) return { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'Slow down.' };
            stream.push(r);
            return { RecordId: randomUUID() };
          });
          return { FailedPutCount: RequestResponses.filter((r) => 'ErrorCode' in r).length, Encrypted: false, RequestResponses };
        },
      },
    },
  };
  return { spec, streams, throttled, createDeliveryStream: (name: string) => void streams.set(name, []) };
}

/** SNS over awsQuery (`Action=PublishBatch&Version=2010-03-31`): topic or endpoint ARN -> published entries. */
export function snsService(region = 'us-east-1') {
  const published = new Map<string, { message: string; structure: string | undefined }[]>();
  // SNS quotas: 256 KiB per message and per PublishBatch, 10 entries per batch.
  const MAX_BYTES = 262_144;
  const target = (arn: string) => {
    const t = published.get(arn);
    if (!t) throw new AwsServiceError('NotFound', arn.includes(':endpoint/') ? 'Endpoint does not exist' : 'Topic does not exist', 404);
    return t;
  };
  /** SNS's check of a JSON message structure (SNS developer guide, "message-structure json"). */
  const jsonProblem = (message: string): string | undefined => {
    try {
      const doc = JSON.parse(message);
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'Invalid parameter: Message Structure - JSON message body failed to parse';
      if (typeof doc.default !== 'string') return 'Invalid parameter: Message Structure - No default entry in JSON message body';
      return undefined;
    } catch {
      return 'Invalid parameter: Message Structure - JSON message body failed to parse';
    }
  };
  const spec: AwsServiceSpec = {
    signingName: 'sns',
    protocol: 'query',
    target: '2010-03-31',
    xmlns: 'http://sns.amazonaws.com/doc/2010-03-31/',
    operations: {
      PublishBatch: {
        required: ['TopicArn', 'PublishBatchRequestEntries'],
        handle({ TopicArn, PublishBatchRequestEntries }) {
          const t = target(TopicArn);
          const entries = PublishBatchRequestEntries as { Id: string; Message: string; MessageStructure?: string }[];
          if (entries.length > 10) throw new AwsServiceError('TooManyEntriesInBatchRequest', 'The batch request contains more entries than permissible.');
          const total = entries.reduce((n, e) => n + Buffer.byteLength(e.Message ?? ''), 0);
          if (total > MAX_BYTES) throw new AwsServiceError('BatchRequestTooLong', 'The length of all the messages put together is more than the limit.');
          const Successful = [];
          const Failed = [];
          for (const e of entries) {
            const problem = e.MessageStructure === 'json' ? jsonProblem(e.Message) : undefined;
            if (problem) Failed.push({ Id: e.Id, Code: 'InvalidParameter', Message: problem, SenderFault: true });
            else {
              t.push({ message: e.Message, structure: e.MessageStructure });
              Successful.push({ Id: e.Id, MessageId: randomUUID() });
            }
          }
          return { Successful, Failed };
        },
      },
      Publish: {
        required: ['Message'],
        handle({ TargetArn, TopicArn, Message, MessageStructure }) {
          const t = target(TargetArn ?? TopicArn);
          if (Buffer.byteLength(Message) > MAX_BYTES) throw new AwsServiceError('InvalidParameter', 'Invalid parameter: Message too long');
          const problem = MessageStructure === 'json' ? jsonProblem(Message) : undefined;
          if (problem) throw new AwsServiceError('InvalidParameter', problem);
          t.push({ message: Message, structure: MessageStructure });
          return { MessageId: randomUUID() };
        },
      },
    },
  };
  return {
    spec,
    published,
    createTopic(name: string): string {
      const arn = `arn:aws:sns:${region}:${ACCOUNT}:${name}`;
      published.set(arn, []);
      return arn;
    },
    createPlatformEndpoint(app: string, id: string): string {
      const arn = `arn:aws:sns:${region}:${ACCOUNT}:endpoint/GCM/${app}/${id}`;
      published.set(arn, []);
      return arn;
    },
  };
}

/** Step Functions (`AWSStepFunctions.<Operation>`): state machines and the executions started on them. */
export function stepFunctionsService(region = 'us-east-1') {
  const machines = new Map<string, { name: string; input: string }[]>();
  const spec: AwsServiceSpec = {
    signingName: 'states',
    protocol: 'json',
    target: 'AWSStepFunctions',
    operations: {
      ListStateMachines: {
        handle: () => ({ stateMachines: [...machines.keys()].map((arn) => ({ stateMachineArn: arn, name: arn.split(':').at(-1), type: 'STANDARD', creationDate: 0 })) }),
      },
      StartExecution: {
        required: ['stateMachineArn'],
        handle({ stateMachineArn, name, input }) {
          const executions = machines.get(stateMachineArn);
          if (!executions) throw new AwsServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
          if (name !== undefined && !/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw new AwsServiceError('InvalidName', `Invalid Name: '${name}'`);
          if (name !== undefined && executions.some((e) => e.name === name)) throw new AwsServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${name}'`);
          const text = input ?? '{}';
          if (Buffer.byteLength(text) > 262_144) throw new AwsServiceError('ValidationException', "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to 262144");
          try {
            JSON.parse(text);
          } catch {
            throw new AwsServiceError('InvalidExecutionInput', 'Invalid State Machine Execution Input');
          }
          const executionName = name ?? randomUUID();
          executions.push({ name: executionName, input: text });
          return { executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`, startDate: Date.now() / 1000 };
        },
      },
    },
  };
  return {
    spec,
    machines,
    createStateMachine(name: string): string {
      const arn = `arn:aws:states:${region}:${ACCOUNT}:stateMachine:${name}`;
      machines.set(arn, []);
      return arn;
    },
  };
}

/** CloudWatch (`GraniteServiceVersion20100801.<Operation>`, its JSON protocol): alarms and the states set on them. */
export function cloudWatchService() {
  const alarms = new Map<string, { value: string; reason: string }[]>();
  const spec: AwsServiceSpec = {
    signingName: 'monitoring',
    protocol: 'json',
    target: 'GraniteServiceVersion20100801',
    operations: {
      SetAlarmState: {
        required: ['AlarmName', 'StateValue', 'StateReason'],
        handle({ AlarmName, StateValue, StateReason }) {
          const states = alarms.get(AlarmName);
          if (!states) throw new AwsServiceError('ResourceNotFound', `Alarm ${AlarmName} not found`, 404);
          if (!['OK', 'ALARM', 'INSUFFICIENT_DATA'].includes(StateValue)) {
            throw new AwsServiceError('ValidationError', `1 validation error detected: Value '${StateValue}' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]`);
          }
          if (String(StateReason).length > 1023) throw new AwsServiceError('ValidationError', "1 validation error detected: Value at 'stateReason' failed to satisfy constraint: Member must have length less than or equal to 1023");
          states.push({ value: StateValue, reason: StateReason });
          return {};
        },
      },
    },
  };
  return { spec, alarms, createAlarm: (name: string) => void alarms.set(name, []) };
}

/** CloudWatch Logs (`Logs_20140328.<Operation>`): log group -> stream -> events. */
export function cloudWatchLogsService() {
  const groups = new Map<string, Map<string, { timestamp: number; message: string }[]>>();
  // PutLogEvents quotas: 10,000 events and 1,048,576 bytes (each event's UTF-8 bytes + 26) per call.
  const MAX_EVENT = 262_144;
  const group = (name: string) => {
    const g = groups.get(name);
    if (!g) throw new AwsServiceError('ResourceNotFoundException', 'The specified log group does not exist.');
    return g;
  };
  const spec: AwsServiceSpec = {
    signingName: 'logs',
    protocol: 'json',
    target: 'Logs_20140328',
    operations: {
      CreateLogStream: {
        required: ['logGroupName', 'logStreamName'],
        handle({ logGroupName, logStreamName }) {
          const g = group(logGroupName);
          if (g.has(logStreamName)) throw new AwsServiceError('ResourceAlreadyExistsException', 'The specified log stream already exists');
          g.set(logStreamName, []);
          return {};
        },
      },
      PutLogEvents: {
        required: ['logGroupName', 'logStreamName', 'logEvents'],
        handle({ logGroupName, logStreamName, logEvents }) {
          const stream = group(logGroupName).get(logStreamName);
          if (!stream) throw new AwsServiceError('ResourceNotFoundException', 'The specified log stream does not exist.');
          const events = logEvents as { timestamp: number; message: string }[];
          for (let i = 1; i < events.length; i++) {
            if (events[i]!.timestamp < events[i - 1]!.timestamp) throw new AwsServiceError('InvalidParameterException', 'Log events in a single PutLogEvents request must be in chronological order.');
          }
          for (const e of events) {
            const bytes = Buffer.byteLength(e.message) + 26;
            if (bytes > MAX_EVENT) throw new AwsServiceError('InvalidParameterException', `Log event too large: ${bytes} bytes exceeds limit of ${MAX_EVENT}`);
          }
          // Events more than 14 days old are refused, each alone (PutLogEvents, rejectedLogEventsInfo).
          const cutoff = Date.now() - 14 * 86_400_000;
          let tooOld = -1;
          events.forEach((e, i) => {
            if (e.timestamp < cutoff) tooOld = i;
            else stream.push(e);
          });
          return { nextSequenceToken: '1', ...(tooOld >= 0 ? { rejectedLogEventsInfo: { tooOldLogEventEndIndex: tooOld } } : {}) };
        },
      },
    },
  };
  return { spec, groups, createLogGroup: (name: string) => void groups.set(name, new Map()) };
}

/** AWS IoT Events data plane (restJson1, `POST /inputs/messages`): input name -> messages (payload text). */
export function iotEventsService() {
  const inputs = new Map<string, { messageId: string; payload: string }[]>();
  const spec: AwsServiceSpec = {
    signingName: 'ioteventsdata',
    protocol: 'rest-json',
    operations: {
      BatchPutMessage: {
        http: 'POST /inputs/messages',
        required: ['messages'],
        handle({ messages }) {
          const list = messages as { messageId: string; inputName: string; payload: string }[];
          if (list.length > 10) throw new AwsServiceError('InvalidRequestException', `1 validation error detected: Value at 'messages' failed to satisfy constraint: Member must have length less than or equal to 10`);
          const BatchPutMessageErrorEntries = [];
          for (const m of list) {
            const input = inputs.get(m.inputName);
            const payload = Buffer.from(m.payload ?? '', 'base64').toString('utf8');
            if (!input) BatchPutMessageErrorEntries.push({ messageId: m.messageId, errorCode: 'ResourceNotFoundException', errorMessage: `Input ${m.inputName} does not exist` });
            else if (!isJson(payload)) BatchPutMessageErrorEntries.push({ messageId: m.messageId, errorCode: 'InvalidRequestException', errorMessage: 'Payload must be a JSON object' });
            else input.push({ messageId: m.messageId, payload });
          }
          return { BatchPutMessageErrorEntries };
        },
      },
    },
  };
  return { spec, inputs, createInput: (name: string) => void inputs.set(name, []) };
}

/** AWS IoT Analytics (restJson1, `POST /messages/batch`): channel -> messages (payload text). */
export function iotAnalyticsService() {
  const channels = new Map<string, { messageId: string; payload: string }[]>();
  const MAX_PAYLOAD = 128 * 1024;
  const spec: AwsServiceSpec = {
    signingName: 'iotanalytics',
    protocol: 'rest-json',
    operations: {
      BatchPutMessage: {
        http: 'POST /messages/batch',
        required: ['channelName', 'messages'],
        handle({ channelName, messages }) {
          const channel = channels.get(channelName);
          if (!channel) throw new AwsServiceError('ResourceNotFoundException', `A resource with the name ${channelName} cannot be found.`, 404);
          const list = messages as { messageId: string; payload: string }[];
          if (list.length > 100) throw new AwsServiceError('InvalidRequestException', 'Too many messages: at most 100 per BatchPutMessage.');
          if (new Set(list.map((m) => m.messageId)).size !== list.length) throw new AwsServiceError('InvalidRequestException', 'Message IDs in a batch must be unique.');
          const batchPutMessageErrorEntries = [];
          for (const m of list) {
            const payload = Buffer.from(m.payload ?? '', 'base64');
            if (payload.length > MAX_PAYLOAD) batchPutMessageErrorEntries.push({ messageId: m.messageId, errorCode: 'InvalidRequestException', errorMessage: `Message payload exceeds the limit of ${MAX_PAYLOAD} bytes.` });
            else if (!isJson(payload.toString('utf8'))) batchPutMessageErrorEntries.push({ messageId: m.messageId, errorCode: 'InvalidRequestException', errorMessage: 'Message payload must be a JSON object.' });
            else channel.push({ messageId: m.messageId, payload: payload.toString('utf8') });
          }
          return { batchPutMessageErrorEntries };
        },
      },
    },
  };
  return { spec, channels, createChannel: (name: string) => void channels.set(name, []) };
}

const isJson = (text: string): boolean => {
  try {
    const v = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
};

/** A Timestream record as WriteRecords carries it. */
export interface TimestreamRecord {
  Dimensions: { Name: string; Value: string; DimensionValueType?: string }[];
  MeasureName: string;
  MeasureValue: string;
  MeasureValueType: string;
  Time: string;
  TimeUnit: string;
}

/** Timestream for LiveAnalytics write API (`Timestream_20181101.<Operation>`): `db.table` -> records. */
export function timestreamService() {
  const tables = new Map<string, TimestreamRecord[]>();
  const TYPES = new Set(['DOUBLE', 'BIGINT', 'VARCHAR', 'BOOLEAN']);
  const spec: AwsServiceSpec = {
    signingName: 'timestream',
    protocol: 'json',
    target: 'Timestream_20181101',
    operations: {
      WriteRecords: {
        required: ['DatabaseName', 'TableName', 'Records'],
        handle({ DatabaseName, TableName, Records }) {
          const table = tables.get(`${DatabaseName}.${TableName}`);
          if (!table) throw new AwsServiceError('ResourceNotFoundException', `The table ${TableName} does not exist in database ${DatabaseName}.`);
          const records = Records as TimestreamRecord[];
          if (records.length > 100) throw new AwsServiceError('ValidationException', `1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to 100`);
          const rejected: { RecordIndex: number; Reason: string }[] = [];
          records.forEach((r, RecordIndex) => {
            const why =
              !TYPES.has(r.MeasureValueType) ? `Invalid measure value type ${r.MeasureValueType}.`
              : r.MeasureValueType === 'VARCHAR' && Buffer.byteLength(r.MeasureValue) > 2048 ? 'Measure value of type VARCHAR exceeds the maximum size of 2 KB.'
              : (r.MeasureValueType === 'DOUBLE' || r.MeasureValueType === 'BIGINT') && !Number.isFinite(Number(r.MeasureValue)) ? `Invalid measure value ${r.MeasureValue} for type ${r.MeasureValueType}.`
              : r.Dimensions.length === 0 ? 'At least one dimension is required.'
              : undefined;
            if (why) rejected.push({ RecordIndex, Reason: why });
          });
          records.forEach((r, i) => {
            if (!rejected.some((x) => x.RecordIndex === i)) table.push(r);
          });
          if (rejected.length > 0) {
            // RejectedRecordsException (HTTP 419) lists the rejected records; the others were written.
            throw new AwsServiceError('RejectedRecordsException', 'One or more records have been rejected. See RejectedRecords for details.', 419, 'Sender', { RejectedRecords: rejected });
          }
          return { RecordsIngested: { Total: records.length, MemoryStore: records.length, MagneticStore: 0 } };
        },
      },
    },
  };
  return { spec, tables, createTable: (database: string, table: string) => void tables.set(`${database}.${table}`, []) };
}

/** Amazon Location tracking (restJson1, `POST /tracking/v0/trackers/{TrackerName}/positions`): tracker -> position updates. */
export function locationService() {
  const trackers = new Map<string, { DeviceId: string; Position: number[]; SampleTime: string }[]>();
  const spec: AwsServiceSpec = {
    signingName: 'geo',
    protocol: 'rest-json',
    operations: {
      BatchUpdateDevicePosition: {
        http: 'POST /tracking/v0/trackers/{TrackerName}/positions',
        required: ['TrackerName', 'Updates'],
        handle({ TrackerName, Updates }) {
          const tracker = trackers.get(TrackerName);
          if (!tracker) throw new AwsServiceError('ResourceNotFoundException', `Tracker ${TrackerName} not found`, 404);
          const updates = Updates as { DeviceId: string; Position: number[]; SampleTime: string }[];
          if (updates.length > 10) throw new AwsServiceError('ValidationException', 'Updates: at most 10 per request');
          const Errors = [];
          for (const u of updates) {
            const [lon, lat] = u.Position ?? [];
            const bad = !(typeof lon === 'number' && lon >= -180 && lon <= 180 && typeof lat === 'number' && lat >= -90 && lat <= 90);
            if (bad) Errors.push({ DeviceId: u.DeviceId, SampleTime: u.SampleTime, Error: { Code: 'ValidationError', Message: `Position ${JSON.stringify(u.Position)} is not [longitude, latitude] within range` } });
            else tracker.push(u);
          }
          return { Errors };
        },
      },
    },
  };
  return { spec, trackers, createTracker: (name: string) => void trackers.set(name, []) };
}

/** An IoT SiteWise property value entry as BatchPutAssetPropertyValue carries it. */
export interface SiteWiseEntry {
  entryId: string;
  assetId?: string;
  propertyId?: string;
  propertyAlias?: string;
  propertyValues: { value: Record<string, unknown>; timestamp: { timeInSeconds: number; offsetInNanos?: number }; quality?: string }[];
}

/** AWS IoT SiteWise data (restJson1, `POST /properties`): property alias or `asset/property` -> values. */
export function siteWiseService() {
  const properties = new Map<string, SiteWiseEntry['propertyValues']>();
  const spec: AwsServiceSpec = {
    signingName: 'iotsitewise',
    protocol: 'rest-json',
    operations: {
      BatchPutAssetPropertyValue: {
        http: 'POST /properties',
        required: ['entries'],
        handle({ entries }) {
          const list = entries as SiteWiseEntry[];
          if (list.length > 10) throw new AwsServiceError('InvalidRequestException', 'entries: at most 10 per request');
          const errorEntries: { entryId: string; errors: unknown[] }[] = [];
          for (const e of list) {
            const key = e.propertyAlias ?? `${e.assetId}/${e.propertyId}`;
            const values = properties.get(key);
            const err = (errorCode: string, errorMessage: string) => errorEntries.push({ entryId: e.entryId, errors: [{ errorCode, errorMessage, timestamps: e.propertyValues.map((v) => v.timestamp) }] });
            if (!values) err('ResourceNotFoundException', `Property ${key} not found`);
            else if (e.propertyValues.some((v) => Object.keys(v.value ?? {}).length !== 1)) err('InvalidRequestException', 'Each value must have exactly one of stringValue, integerValue, doubleValue, booleanValue');
            else values.push(...e.propertyValues);
          }
          return { errorEntries };
        },
      },
    },
  };
  return { spec, properties, createProperty: (aliasOrAssetProperty: string) => void properties.set(aliasOrAssetProperty, []) };
}

/** One stand-in of each service above, and their specs for `startAwsServices`, as the suites that use them all want. */
export function allAwsServices() {
  const services = {
    sqs: sqsService(),
    firehose: firehoseService(),
    sns: snsService(),
    sfn: stepFunctionsService(),
    cloudwatch: cloudWatchService(),
    logs: cloudWatchLogsService(),
    iotEvents: iotEventsService(),
    iotAnalytics: iotAnalyticsService(),
    timestream: timestreamService(),
    location: locationService(),
    sitewise: siteWiseService(),
  };
  return { ...services, specs: Object.values(services).map((s) => s.spec) };
}
