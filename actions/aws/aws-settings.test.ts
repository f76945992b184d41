import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../core/index.js';
import { classifyAwsError } from './aws-errors.js';
import { awsSettingsFromConfig, sdkClientOptions } from './aws-settings.js';

describe('AWS action settings', () => {
  test('kiot settings override the SDK only where they are set', () => {
    const config = loadConfig({
      env: {
        KIOT_AWS_REGION: 'eu-north-1',
        KIOT_DYNAMODB_ENDPOINT: 'http://127.0.0.1:4567',
        KIOT_S3_ENDPOINT: 'http://127.0.0.1:4568',
        KIOT_S3_FORCE_PATH_STYLE: 'true',
        KIOT_ELASTICSEARCH_ENDPOINT: 'http://127.0.0.1:9200',
        KIOT_AWS_ENDPOINT: 'http://127.0.0.1:4566',
      },
    });
    expect(awsSettingsFromConfig(config.rules)).toEqual({
      dynamodb: { region: 'eu-north-1', endpoint: 'http://127.0.0.1:4567' },
      s3: { region: 'eu-north-1', endpoint: 'http://127.0.0.1:4568', forcePathStyle: true },
      elasticsearch: { endpoint: 'http://127.0.0.1:9200' },
      services: { region: 'eu-north-1', endpoint: 'http://127.0.0.1:4566' },
    });
    const none = awsSettingsFromConfig(loadConfig({ env: {} }).rules);
    expect(none).toEqual({ dynamodb: {}, s3: { forcePathStyle: false }, elasticsearch: {}, services: {} });
    // With no overrides the SDK options name no region, endpoint or credentials: the SDK resolves them.
    const sdk = sdkClientOptions(none.dynamodb);
    expect(Object.keys(sdk).sort()).toEqual(['maxAttempts', 'requestHandler']);
  });

  test('bad values are CONFIG_INVALID naming the variable', () => {
    expect(() => loadConfig({ env: { KIOT_S3_FORCE_PATH_STYLE: 'yes' } })).toThrow(/KIOT_S3_FORCE_PATH_STYLE: expected true or false/);
    expect(() => loadConfig({ env: { KIOT_DYNAMODB_ENDPOINT: 'localhost:8000' } })).toThrow(/KIOT_DYNAMODB_ENDPOINT: expected an http/);
  });

  test('SDK errors are classified by type and status, transport errors as unreachable', () => {
    const svc = (name: string, status: number) => Object.assign(new Error('x'), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });
    expect(classifyAwsError(svc('ResourceNotFoundException', 400))).toMatchObject({ kind: 'missing', retriable: false });
    expect(classifyAwsError(svc('ProvisionedThroughputExceededException', 400))).toMatchObject({ kind: 'busy', retriable: true });
    expect(classifyAwsError(svc('ValidationException', 400))).toMatchObject({ kind: 'invalid', retriable: false });
    expect(classifyAwsError(svc('AccessDeniedException', 400))).toMatchObject({ kind: 'denied', retriable: false });
    expect(classifyAwsError(svc('InternalServerError', 500))).toMatchObject({ kind: 'busy', retriable: true });
    expect(classifyAwsError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toMatchObject({ kind: 'unreachable', retriable: true });
    // What the SDK throws when no region is configured anywhere: the message says which kiot setting to use.
    expect(classifyAwsError(new Error('Region is missing'))).toEqual({ kind: 'denied', retriable: false, message: "Error: Region is missing (set --aws-region or KIOT_AWS_REGION, or the SDK's AWS_REGION)" });
  });
});
