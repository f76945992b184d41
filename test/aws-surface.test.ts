/**
 * What an AWS IoT tool finds at kiot's API beyond the registry: DescribeEndpoint, the retained
 * message operations, and, for services kiot does not have yet, AWS's error shape naming the
 * operation (never `404 no route`, which reads like a wrong endpoint).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeAuthorizerCommand, DescribeEndpointCommand, GetIndexingConfigurationCommand, IoTClient, SearchIndexCommand } from '@aws-sdk/client-iot';
import { GetRetainedMessageCommand, IoTDataPlaneClient, ListRetainedMessagesCommand } from '@aws-sdk/client-iot-data-plane';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPlatform, type RunningPlatform } from '../cli/up.js';
import { loadConfig, silentLogger } from '../core/index.js';

let dir: string;
let platform: RunningPlatform;
let iot: IoTClient;
let data: IoTDataPlaneClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-aws-surface-'));
  const config = loadConfig({
    flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0' },
    env: {},
  });
  platform = await startPlatform(config, () => undefined, silentLogger());
  const common = {
    endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`,
    region: 'us-east-1',
    credentials: fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' }),
    maxAttempts: 1,
  };
  iot = new IoTClient(common);
  data = new IoTDataPlaneClient(common);
}, 60_000);

afterAll(async () => {
  iot?.destroy();
  data?.destroy();
  await platform?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the AWS API surface around the registry', () => {
  test('DescribeEndpoint answers kiot\'s MQTT-over-TLS address for every endpoint type', async () => {
    const expected = `127.0.0.1:${platform.listeners.get('mqtts')}`;
    for (const endpointType of ['iot:Data-ATS', 'iot:Data', 'iot:Jobs', 'iot:CredentialProvider', undefined]) {
      expect((await iot.send(new DescribeEndpointCommand(endpointType ? { endpointType } : {}))).endpointAddress).toBe(expected);
    }
    await expect(iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Nonsense' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
  });

  test('ListRetainedMessages and GetRetainedMessage read what devices retained', async () => {
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, { clientId: 'retainer', protocolVersion: 5, reconnectPeriod: 0 });
    try {
      await device.publishAsync('plant/1/state', '{"on":true}', { qos: 1, retain: true, properties: { userProperties: { site: 'north' } } });
      await device.publishAsync('plant/2/state', 'off', { qos: 1, retain: true });
    } finally {
      await device.endAsync();
    }
    // PUBACK means durable on iot.retained; the API's view of it follows the topic, so ask until it has both.
    let listed = await data.send(new ListRetainedMessagesCommand({}));
    for (let i = 0; i < 100 && (listed.retainedTopics?.length ?? 0) < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      listed = await data.send(new ListRetainedMessagesCommand({}));
    }
    expect(listed.retainedTopics?.map((t) => [t.topic, t.payloadSize, t.qos])).toEqual([
      ['plant/1/state', 11, 1],
      ['plant/2/state', 3, 1],
    ]);
    expect(listed.retainedTopics?.[0]?.lastModifiedTime).toBeGreaterThan(Date.now() - 60_000);
    const one = await data.send(new GetRetainedMessageCommand({ topic: 'plant/1/state' }));
    expect(Buffer.from(one.payload!).toString()).toBe('{"on":true}');
    expect(one.qos).toBe(1);
    expect(JSON.parse(Buffer.from(one.userProperties!).toString())).toEqual([{ site: 'north' }]);
    await expect(data.send(new GetRetainedMessageCommand({ topic: 'plant/9/state' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  test('operations of services kiot does not have yet answer AWS\'s error shape naming the operation', async () => {
    await expect(iot.send(new GetIndexingConfigurationCommand({}))).rejects.toMatchObject({
      name: 'NotImplementedException',
      message: 'kiot does not implement GetIndexingConfiguration yet',
    });
    // Custom authorizers are served: an unknown one is AWS's ResourceNotFoundException.
    await expect(iot.send(new DescribeAuthorizerCommand({ authorizerName: 'tokens' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(iot.send(new SearchIndexCommand({ queryString: 'thingName:pump*' }))).rejects.toMatchObject({ message: 'kiot does not implement SearchIndex yet' });
  });
});
