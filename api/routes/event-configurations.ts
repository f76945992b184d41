/**
 * UpdateEventConfigurations and DescribeEventConfigurations (API reference, "AWS IoT"): which
 * `$aws/events/...` messages are published. kiot keeps the setting for the types the jobs
 * service publishes, JOB and JOB_EXECUTION (off until enabled, as AWS IoT's); the registry's
 * events (THING, THING_GROUP, THING_TYPE, THING_GROUP_MEMBERSHIP, THING_GROUP_HIERARCHY,
 * THING_TYPE_ASSOCIATION) are always published, and POLICY, CERTIFICATE and CA_CERTIFICATE
 * events never are: those are answered as they are, and a request to change them is refused
 * rather than ignored. See jobs/README.md.
 */
import { PlatformError } from '../../core/index.js';
import type { Jobs } from '../../jobs/index.js';
import type { AwsOperation } from '../operation.js';
import { bodyObject, epochSeconds, optionalObject } from './aws-input.js';

/** The event types kiot publishes always. */
const ALWAYS = ['THING', 'THING_GROUP', 'THING_TYPE', 'THING_GROUP_MEMBERSHIP', 'THING_GROUP_HIERARCHY', 'THING_TYPE_ASSOCIATION'] as const;
/** The event types kiot has no events of. */
const NEVER = ['POLICY', 'CERTIFICATE', 'CA_CERTIFICATE'] as const;
const SETTABLE = ['JOB', 'JOB_EXECUTION'] as const;

const invalid = (message: string) => new PlatformError('INPUT_INVALID', message, { details: { awsErrorType: 'InvalidRequestException', awsStatus: 400 } });

export function eventConfigurationOperations(jobs: Jobs): AwsOperation[] {
  return [
    {
      name: 'DescribeEventConfigurations',
      method: 'GET',
      path: '/event-configurations',
      async handle() {
        const record = jobs.eventConfigurations();
        const eventConfigurations: Record<string, { Enabled: boolean }> = {};
        for (const type of ALWAYS) eventConfigurations[type] = { Enabled: true };
        for (const type of SETTABLE) eventConfigurations[type] = { Enabled: record?.enabled[type] === true };
        for (const type of NEVER) eventConfigurations[type] = { Enabled: false };
        return { eventConfigurations, ...(record ? { creationDate: epochSeconds(record.createdAt), lastModifiedDate: epochSeconds(record.lastModifiedAt) } : {}) };
      },
    },
    {
      name: 'UpdateEventConfigurations',
      method: 'PATCH',
      path: '/event-configurations',
      async handle(request) {
        const given = optionalObject(bodyObject(request), 'eventConfigurations') ?? {};
        const enabled: Partial<Record<(typeof SETTABLE)[number], boolean>> = {};
        for (const [type, value] of Object.entries(given)) {
          const on = (value as { Enabled?: unknown } | null)?.Enabled;
          if (typeof on !== 'boolean') throw invalid(`eventConfigurations.${type}.Enabled must be a boolean`);
          if ((SETTABLE as readonly string[]).includes(type)) enabled[type as (typeof SETTABLE)[number]] = on;
          else if ((ALWAYS as readonly string[]).includes(type)) {
            if (!on) throw invalid(`eventConfigurations.${type}: kiot always publishes registry events; they cannot be disabled`);
          } else if ((NEVER as readonly string[]).includes(type)) {
            if (on) throw invalid(`eventConfigurations.${type}: kiot publishes no ${type} events`);
          } else throw invalid(`eventConfigurations: unknown event type ${JSON.stringify(type)}`);
        }
        if (Object.keys(enabled).length > 0) await jobs.updateEventConfigurations(enabled);
        return {};
      },
    },
  ];
}
