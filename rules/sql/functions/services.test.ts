import { describe, expect, test } from 'vitest';
import { isPlatformError } from '../../../core/index.js';
import type { SqlValue } from '../values.js';
import { FUNCTIONS } from './index.js';
import { callFunction, testContext } from './test-context.js';
import type { SqlServices } from './types.js';

function recordingServices(calls: unknown[][]): SqlServices {
  return {
    getThingShadow: async (...args) => (calls.push(['shadow', ...args]), { state: { reported: { alarm: 'ON' } } }),
    getDynamoDb: async (...args) => (calls.push(['dynamodb', ...args]), { location: 'Oslo' }),
    invokeLambda: async (...args) => (calls.push(['lambda', ...args]), { some: { value: 1 } }),
    getSecret: async (...args) => (calls.push(['secret', ...args]), 'API_KEY_VALUE'),
    getRegistryData: async (...args) => (calls.push(['registry', ...args]), { attributes: {} }),
  };
}

describe('service functions', () => {
  test('are async and impure', () => {
    for (const name of ['aws_lambda', 'get_dynamodb', 'get_secret', 'get_thing_shadow', 'get_registry_data']) {
      const fn = FUNCTIONS.get(name);
      expect(fn?.async, name).toBe(true);
      expect(fn?.pure, name).toBe(false);
    }
  });

  test('call ctx.services with the arguments the guide documents', async () => {
    const calls: unknown[][] = [];
    const ctx = testContext({ services: recordingServices(calls) });
    const run = (name: string, ...args: SqlValue[]) => callFunction(name, args, ctx);
    // get_thing_shadow("MyThing","MyThingShadow", role) and the unnamed form
    expect(await run('get_thing_shadow', 'MyThing', 'MyThingShadow', 'arn:aws:iam::123456789012:role/R')).toEqual({
      state: { reported: { alarm: 'ON' } },
    });
    await run('get_thing_shadow', 'MyThing', 'arn:aws:iam::123456789012:role/R');
    // get_dynamodb("InServiceDevices", "deviceId", id, role) and the sort-key form
    expect(await run('get_dynamodb', 'InServiceDevices', 'deviceId', 'd1', 'arn:role')).toEqual({ location: 'Oslo' });
    await run('get_dynamodb', 'T', 'pk', 1, 'sk', 2, 'arn:role');
    // aws_lambda(arn, {"payload": attribute1})
    expect(await run('aws_lambda', 'arn:aws:lambda:us-east-1:1:function:f', { payload: 21 })).toEqual({ some: { value: 1 } });
    // get_secret('API_KEY', 'SecretString', 'API_KEY_VALUE', role) and without a key
    expect(await run('get_secret', 'API_KEY', 'SecretString', 'API_KEY_VALUE', 'arn:role')).toBe('API_KEY_VALUE');
    await run('get_secret', 'API_KEY', 'SecretBinary', 'arn:role');
    await run('get_registry_data', 'DescribeThing', 'sensor1', 'arn:role');
    expect(calls).toEqual([
      ['shadow', 'MyThing', 'MyThingShadow', 'arn:aws:iam::123456789012:role/R'],
      ['shadow', 'MyThing', undefined, 'arn:aws:iam::123456789012:role/R'],
      ['dynamodb', 'InServiceDevices', 'deviceId', 'd1', undefined, undefined, 'arn:role'],
      ['dynamodb', 'T', 'pk', 1, 'sk', 2, 'arn:role'],
      ['lambda', 'arn:aws:lambda:us-east-1:1:function:f', { payload: 21 }],
      ['secret', 'API_KEY', 'SecretString', 'API_KEY_VALUE', 'arn:role'],
      ['secret', 'API_KEY', 'SecretBinary', undefined, 'arn:role'],
      ['registry', 'DescribeThing', 'sensor1', 'arn:role'],
    ]);
  });

  test('wrong argument types give Undefined without calling the service', async () => {
    const calls: unknown[][] = [];
    const ctx = testContext({ services: recordingServices(calls) });
    expect(await callFunction('get_thing_shadow', [5, 'role'], ctx)).toBeUndefined();
    expect(await callFunction('get_secret', ['id', 'SecretOther', 'role'], ctx)).toBeUndefined();
    expect(await callFunction('get_dynamodb', ['T', 'pk', undefined, 'role'], ctx)).toBeUndefined();
    expect(await callFunction('aws_lambda', [null, {}], ctx)).toBeUndefined();
    expect(calls).toEqual([]);
  });

  test('defaultSqlServices rejects with a PlatformError saying the service is not connected', async () => {
    const ctx = testContext();
    for (const [name, args] of [
      ['get_thing_shadow', ['t', 'role']],
      ['get_dynamodb', ['T', 'pk', 'v', 'role']],
      ['aws_lambda', ['arn', {}]],
      ['get_secret', ['s', 'SecretString', 'role']],
      ['get_registry_data', ['DescribeThing', 't', 'role']],
    ] as const) {
      const err = await Promise.resolve(callFunction(name, [...args], ctx)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isPlatformError(err, 'RULES_SQL_RUNTIME'), name).toBe(true);
      expect((err as Error).message).toMatch(/not connected/);
    }
  });

  // iot-sql-data-types: a wrong number of arguments gives Undefined; 5 is wrong for get_dynamodb.
  test('get_dynamodb with 5 arguments is Undefined; machinelearning_predict is a compile-time error', async () => {
    expect(FUNCTIONS.get('get_dynamodb')?.validate).toBeUndefined();
    expect(await callFunction('get_dynamodb', ['t', 'pk', 'v', 'sk', 'arn'])).toBeUndefined();
    const ml = FUNCTIONS.get('machinelearning_predict');
    expect(() => ml?.validate?.(3)).toThrow(/machinelearning_predict has no local meaning in kiot/);
    expect(() => ml?.validate?.(3)).toThrow(expect.objectContaining({ code: 'RULES_SQL_SEMANTIC' }));
  });
});
