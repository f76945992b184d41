/**
 * `cloudwatch_alarm`: sets the state of a CloudWatch alarm (AWS IoT developer guide,
 * cloudwatch-alarms-rule-action; API reference, CloudwatchAlarmAction): `alarm_name`,
 * `state_reason`, `state_value` (`OK`, `ALARM` or `INSUFFICIENT_DATA`; all three templates, the
 * value checked once rendered). One SetAlarmState per record (the API takes one alarm). This is
 * the one place that imports `@aws-sdk/client-cloudwatch`.
 */
import type { CloudWatchClient, StateValue } from '@aws-sdk/client-cloudwatch';
import { z } from 'zod';
import { awsAction } from '../aws/index.js';
import { paramsSchema } from '../runtime/params.js';

export const ALARM_STATES = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const;
const isTemplate = (v: string): boolean => v.includes('${');

const schema = paramsSchema({
  alarm_name: z.string().min(1),
  state_reason: z.string().min(1),
  state_value: z.string().refine((v) => isTemplate(v) || (ALARM_STATES as readonly string[]).includes(v), { message: `expected ${ALARM_STATES.join(', ')} or a substitution template` }),
  role_arn: z.string().optional(),
});

export type CloudwatchAlarmConfig = ReturnType<typeof schema.parse>;

type CloudWatchSdk = typeof import('@aws-sdk/client-cloudwatch');

export const createCloudwatchAlarmDefinition = awsAction<CloudwatchAlarmConfig, CloudwatchAlarmConfig, CloudWatchSdk, CloudWatchClient>({
  type: 'cloudwatch_alarm',
  awsKey: 'cloudwatchAlarm',
  summary: 'set a CloudWatch alarm state (SetAlarmState)',
  config: schema,
  resourceParams: ['alarm_name'],
  load: () => import('@aws-sdk/client-cloudwatch'),
  client: (m, options) => new m.CloudWatchClient(options) as CloudWatchClient,
  request: () => ({
    target: 'CloudWatch',
    maxEntries: 1,
    group: (r) => r.params.alarm_name,
    entries(record) {
      const p = record.params;
      if (!(ALARM_STATES as readonly string[]).includes(p.state_value)) return `state_value ${JSON.stringify(p.state_value)} is not one of ${ALARM_STATES.join(', ')}`;
      return [p];
    },
    async send({ sdk: m, client }, _record, [p], signal) {
      await client.send(new m.SetAlarmStateCommand({ AlarmName: p!.alarm_name, StateValue: p!.state_value as StateValue, StateReason: p!.state_reason }), { abortSignal: signal });
      return [undefined];
    },
  }),
});

export const cloudwatchAlarmAction = createCloudwatchAlarmDefinition();
