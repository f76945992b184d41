/**
 * `location`: sends a device position to an Amazon Location tracker (AWS IoT developer guide,
 * location-rule-action; API reference, LocationAction): `tracker_name`, `device_id`, `latitude`,
 * `longitude` (templates; the coordinates must render to numbers), `timestamp` (`{value, unit}`;
 * default: when the message arrived). A batch is BatchUpdateDevicePosition requests of 10 updates
 * per tracker (Location API reference); updates listed in `Errors` fail alone. The client is
 * built with `disableHostPrefix`, so that a local endpoint is not prefixed with `tracking.`.
 * This is the one place that imports `@aws-sdk/client-location`.
 */
import type { DevicePositionUpdate, LocationClient } from '@aws-sdk/client-location';
import { z } from 'zod';
import { awsAction, entryError, renderTimestamp, timestampParam } from '../aws/index.js';
import { paramsSchema } from '../runtime/params.js';

export const LOCATION_MAX_UPDATES = 10;
const RETRIABLE = new Set(['InternalServerError', 'ThrottlingException']);

const schema = paramsSchema({
  tracker_name: z.string().min(1),
  device_id: z.string().min(1),
  latitude: z.string().min(1),
  longitude: z.string().min(1),
  timestamp: timestampParam.optional(),
  role_arn: z.string().optional(),
});

export type LocationConfig = ReturnType<typeof schema.parse>;

const coordinate = (text: string): number => (text.trim() === '' ? Number.NaN : Number(text));

type Sdk = typeof import('@aws-sdk/client-location');

export const createLocationDefinition = awsAction<LocationConfig, DevicePositionUpdate, Sdk, LocationClient>({
  type: 'location',
  awsKey: 'location',
  summary: 'send a device position to an Amazon Location tracker (BatchUpdateDevicePosition)',
  config: schema,
  resourceParams: ['tracker_name'],
  load: () => import('@aws-sdk/client-location'),
  client: (m, options) => new m.LocationClient(options) as LocationClient,
  clientOptions: { disableHostPrefix: true },
  request: () => ({
    target: 'Location',
    maxEntries: LOCATION_MAX_UPDATES,
    group: (r) => r.params.tracker_name,
    entries(record) {
      const p = record.params;
      const lat = coordinate(p.latitude);
      const lon = coordinate(p.longitude);
      if (!Number.isFinite(lat) || !Number.isFinite(lon)) return `latitude and longitude must render to numbers, got ${JSON.stringify(p.latitude)}, ${JSON.stringify(p.longitude)}`;
      if (p.device_id === '') return 'device_id rendered empty';
      const time = renderTimestamp(p.timestamp, record.receivedAt);
      if (typeof time === 'string') return time;
      return [{ DeviceId: p.device_id, Position: [lon, lat], SampleTime: new Date(time.ms) }];
    },
    async send({ sdk: m, client }, { params }, updates, signal) {
      const out = await client.send(new m.BatchUpdateDevicePositionCommand({ TrackerName: params.tracker_name, Updates: [...updates] }), { abortSignal: signal });
      const key = (id: string | undefined, t: Date | undefined) => `${id}|${t?.getTime()}`;
      const errors = new Map((out.Errors ?? []).map((e) => [key(e.DeviceId, e.SampleTime), e.Error]));
      return updates.map((u) => {
        const e = errors.get(key(u.DeviceId, u.SampleTime));
        return e ? entryError(e.Code, e.Message, RETRIABLE) : undefined;
      });
    },
  }),
});

export const locationAction = createLocationDefinition();
