/** Custom authorizer operations through `@aws-sdk/client-iot` against a real HTTP server and a local Lambda Invoke server. */
import {
  ClearDefaultAuthorizerCommand,
  CreateAuthorizerCommand,
  DeleteAuthorizerCommand,
  DescribeAuthorizerCommand,
  DescribeDefaultAuthorizerCommand,
  ListAuthorizersCommand,
  SetDefaultAuthorizerCommand,
  TestInvokeAuthorizerCommand,
  UpdateAuthorizerCommand,
} from '@aws-sdk/client-iot';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { invokeLambda } from '../../actions/lambda/lambda-client.js';
import { rawLambdaAnswer, startLambdaServer, type LambdaServer } from '../../core/testing/lambda-server.js';
import { AuthorizerService, CustomAuthorizers, arnScopeOf } from '../../registry/index.js';
import { authorizerOperations } from './authorizers.js';
import { awsError, startSecurityApi, TEST_ACCOUNT, type SecurityApiKit } from './testing/security-api.js';

let kit: SecurityApiKit;
let lambda: LambdaServer;
const keys = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const signed = (token: string) => sign('sha256', Buffer.from(token), keys.privateKey).toString('base64');
const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:*:*:topic/t/*' }] });

beforeAll(async () => {
  lambda = await startLambdaServer();
  kit = await startSecurityApi(({ registry }) => {
    const scope = arnScopeOf({ region: undefined, accountId: TEST_ACCOUNT });
    const service = new AuthorizerService(registry.store, scope);
    const runtime = new CustomAuthorizers(service, { scope, timeoutMs: 1000, invoke: (fn, payload, signal) => invokeLambda({ endpoint: lambda.endpoint }, fn, payload, 'RequestResponse', signal) });
    return authorizerOperations(service, runtime);
  });
}, 60_000);
afterAll(async () => {
  await kit?.close();
  await lambda?.close();
});

describe('custom authorizers over the AWS API', () => {
  test('Create, Describe, List, Update, SetDefault, DescribeDefault, ClearDefault and Delete', async () => {
    const created = await kit.client.send(
      new CreateAuthorizerCommand({ authorizerName: 'tokens', authorizerFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:auth', tokenKeyName: 'token', tokenSigningPublicKeys: { k1: keys.publicKey } }),
    );
    expect(created).toMatchObject({ authorizerName: 'tokens', authorizerArn: `arn:aws:iot:us-east-1:${TEST_ACCOUNT}:authorizer/tokens` });
    await kit.client.send(new CreateAuthorizerCommand({ authorizerName: 'passwords', authorizerFunctionArn: 'pw', signingDisabled: true, status: 'INACTIVE' }));
    expect((await awsError(kit.client.send(new CreateAuthorizerCommand({ authorizerName: 'tokens', authorizerFunctionArn: 'x', signingDisabled: true })))).name).toBe('ResourceAlreadyExistsException');

    const described = (await kit.client.send(new DescribeAuthorizerCommand({ authorizerName: 'tokens' }))).authorizerDescription!;
    expect(described).toMatchObject({ authorizerName: 'tokens', tokenKeyName: 'token', status: 'ACTIVE', signingDisabled: false, enableCachingForHttp: false, tokenSigningPublicKeys: { k1: keys.publicKey } });
    expect(described.creationDate).toBeInstanceOf(Date);

    expect((await kit.client.send(new ListAuthorizersCommand({}))).authorizers!.map((a) => a.authorizerName)).toEqual(['passwords', 'tokens']);
    expect((await kit.client.send(new ListAuthorizersCommand({ status: 'INACTIVE' }))).authorizers!.map((a) => a.authorizerName)).toEqual(['passwords']);
    const page = await kit.client.send(new ListAuthorizersCommand({ pageSize: 1, ascendingOrder: false }));
    expect(page.authorizers!.map((a) => a.authorizerName)).toEqual(['tokens']);
    expect((await kit.client.send(new ListAuthorizersCommand({ pageSize: 1, ascendingOrder: false, marker: page.nextMarker }))).authorizers!.map((a) => a.authorizerName)).toEqual(['passwords']);

    await kit.client.send(new UpdateAuthorizerCommand({ authorizerName: 'tokens', enableCachingForHttp: true }));
    expect((await kit.client.send(new DescribeAuthorizerCommand({ authorizerName: 'tokens' }))).authorizerDescription).toMatchObject({ enableCachingForHttp: true, tokenKeyName: 'token' });

    expect((await awsError(kit.client.send(new DescribeDefaultAuthorizerCommand({})))).name).toBe('ResourceNotFoundException');
    expect(await kit.client.send(new SetDefaultAuthorizerCommand({ authorizerName: 'tokens' }))).toMatchObject({ authorizerName: 'tokens' });
    expect((await kit.client.send(new DescribeDefaultAuthorizerCommand({}))).authorizerDescription?.authorizerName).toBe('tokens');
    expect((await awsError(kit.client.send(new SetDefaultAuthorizerCommand({ authorizerName: 'passwords' })))).name).toBe('ResourceAlreadyExistsException');

    // AWS: set INACTIVE before deleting; the default authorizer is cleared first.
    expect((await awsError(kit.client.send(new DeleteAuthorizerCommand({ authorizerName: 'tokens' })))).name).toBe('DeleteConflictException');
    await kit.client.send(new UpdateAuthorizerCommand({ authorizerName: 'tokens', status: 'INACTIVE' }));
    expect((await awsError(kit.client.send(new DeleteAuthorizerCommand({ authorizerName: 'tokens' })))).message).toContain('default authorizer');
    await kit.client.send(new ClearDefaultAuthorizerCommand({}));
    await kit.client.send(new DeleteAuthorizerCommand({ authorizerName: 'tokens' }));
    await kit.client.send(new DeleteAuthorizerCommand({ authorizerName: 'passwords' }));
    expect((await awsError(kit.client.send(new DescribeAuthorizerCommand({ authorizerName: 'tokens' })))).name).toBe('ResourceNotFoundException');
  });

  test('bad input is InvalidRequestException naming the field, and nothing is stored', async () => {
    const bad = async (input: ConstructorParameters<typeof CreateAuthorizerCommand>[0]) => awsError(kit.client.send(new CreateAuthorizerCommand(input)));
    expect(await bad({ authorizerName: 'a', authorizerFunctionArn: 'f' })).toMatchObject({ name: 'InvalidRequestException', message: expect.stringContaining('tokenKeyName') });
    expect(await bad({ authorizerName: 'a', authorizerFunctionArn: 'f', tokenKeyName: 'tk' })).toMatchObject({ message: expect.stringContaining('tokenSigningPublicKeys') });
    expect(await bad({ authorizerName: 'a', authorizerFunctionArn: 'f', tokenKeyName: 'tk', tokenSigningPublicKeys: { k: 'not a key' } })).toMatchObject({ message: expect.stringContaining('tokenSigningPublicKeys.k: not a PEM public key') });
    const small = generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    expect(await bad({ authorizerName: 'a', authorizerFunctionArn: 'f', tokenKeyName: 'tk', tokenSigningPublicKeys: { k: small.publicKey } })).toMatchObject({ message: expect.stringContaining('at least 2048 bits') });
    expect(await bad({ authorizerName: 'a b', authorizerFunctionArn: 'f', signingDisabled: true })).toMatchObject({ message: expect.stringContaining('authorizerName') });
    expect(await bad({ authorizerName: 'a', authorizerFunctionArn: 'f', signingDisabled: true, status: 'ON' as 'ACTIVE' })).toMatchObject({ message: expect.stringContaining('status: expected ACTIVE or INACTIVE') });
    expect((await kit.client.send(new ListAuthorizersCommand({}))).authorizers).toEqual([]);
  });

  test('TestInvokeAuthorizer sends AWS\'s event to the function and returns its validated answer; bad answers are InvalidResponseException', async () => {
    await kit.client.send(new CreateAuthorizerCommand({ authorizerName: 'probe', authorizerFunctionArn: 'probe-fn', tokenKeyName: 'tok', tokenSigningPublicKeys: { k1: keys.publicKey } }));
    let answer: unknown = { isAuthenticated: true, principalId: 'device42', policyDocuments: [policy], disconnectAfterInSeconds: 3600, refreshAfterInSeconds: 600 };
    lambda.handle('probe-fn', () => answer);
    const result = await kit.client.send(
      new TestInvokeAuthorizerCommand({
        authorizerName: 'probe',
        token: 'abc',
        tokenSignature: signed('abc'),
        mqttContext: { username: 'u', password: Buffer.from('secret'), clientId: 'c1' },
        tlsContext: { serverName: 'iot.example' },
      }),
    );
    expect(result).toMatchObject({ isAuthenticated: true, principalId: 'device42', policyDocuments: [policy], disconnectAfterInSeconds: 3600, refreshAfterInSeconds: 600 });
    expect(lambda.calls.at(-1)!.event).toMatchObject({
      token: 'abc',
      signatureVerified: true,
      protocols: ['tls', 'mqtt'],
      protocolData: { tls: { serverName: 'iot.example' }, mqtt: { username: 'u', password: Buffer.from('secret').toString('base64'), clientId: 'c1' } },
      connectionMetadata: { id: expect.any(String) },
    });

    expect((await awsError(kit.client.send(new TestInvokeAuthorizerCommand({ authorizerName: 'probe', token: 'abc', tokenSignature: signed('abd') })))).name).toBe('InvalidRequestException');
    const calls = lambda.calls.length;
    expect((await awsError(kit.client.send(new TestInvokeAuthorizerCommand({ authorizerName: 'probe', token: 'abc' })))).name).toBe('InvalidRequestException');
    expect(lambda.calls.length).toBe(calls); // refused before the function runs

    for (const [bad, message] of [
      [rawLambdaAnswer('{not json'), 'not JSON'],
      [{ isAuthenticated: 'yes' }, 'isAuthenticated'],
      [{ isAuthenticated: true, principalId: 'has space', policyDocuments: [policy] }, 'principalId'],
      [{ isAuthenticated: true, principalId: 'p', policyDocuments: ['{"Statement":[]}'] }, 'policyDocuments'],
      [{ isAuthenticated: true, principalId: 'p', policyDocuments: [policy], disconnectAfterInSeconds: 5 }, 'disconnectAfterInSeconds'],
    ] as const) {
      answer = bad;
      const err = await awsError(kit.client.send(new TestInvokeAuthorizerCommand({ authorizerName: 'probe', token: 'abc', tokenSignature: signed('abc') })));
      expect(err).toMatchObject({ name: 'InvalidResponseException', message: expect.stringContaining(message) });
    }
    lambda.handle('probe-fn', () => {
      throw new Error('boom');
    });
    expect((await awsError(kit.client.send(new TestInvokeAuthorizerCommand({ authorizerName: 'probe', token: 'abc', tokenSignature: signed('abc') })))).message).toContain('function error Unhandled');
    lambda.handle('probe-fn', () => new Promise((resolve) => setTimeout(() => resolve(answer), 3000)));
    expect((await awsError(kit.client.send(new TestInvokeAuthorizerCommand({ authorizerName: 'probe', token: 'abc', tokenSignature: signed('abc') })))).message).toContain('did not answer within 1000 ms');
    expect((await awsError(kit.client.send(new TestInvokeAuthorizerCommand({ authorizerName: 'missing', token: 'abc' })))).name).toBe('ResourceNotFoundException');
  });

  test('the AWS CLI: create-authorizer, describe-authorizer, test-invoke-authorizer, delete', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: join(kit.dir, 'credentials'), AWS_CONFIG_FILE: join(kit.dir, 'no-config'), AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' };
    const aws = async (...args: string[]) => JSON.parse((await run('aws', ['iot', ...args, '--endpoint-url', kit.endpoint, '--output', 'json'], { env })).stdout || '{}') as Record<string, unknown>;
    try {
      await run('aws', ['--version'], { env });
    } catch {
      throw new Error('the AWS CLI is not installed: install it (e.g. `pip install awscli`) to run this test');
    }
    lambda.handle('cli-fn', (event) => ({ isAuthenticated: (event as { token?: string }).token === 'cli-token', principalId: 'cli', policyDocuments: [policy] }));
    const created = await aws('create-authorizer', '--authorizer-name', 'cli', '--authorizer-function-arn', 'cli-fn', '--token-key-name', 'tok', '--token-signing-public-keys', `k1=${keys.publicKey}`);
    expect(created).toMatchObject({ authorizerName: 'cli', authorizerArn: `arn:aws:iot:us-east-1:${TEST_ACCOUNT}:authorizer/cli` });
    expect(await aws('describe-authorizer', '--authorizer-name', 'cli')).toMatchObject({ authorizerDescription: { authorizerName: 'cli', tokenKeyName: 'tok', status: 'ACTIVE' } });
    expect(await aws('list-authorizers')).toMatchObject({ authorizers: [{ authorizerName: 'cli' }, { authorizerName: 'probe' }] });
    const tested = await aws('test-invoke-authorizer', '--authorizer-name', 'cli', '--token', 'cli-token', '--token-signature', signed('cli-token'));
    expect(tested).toMatchObject({ isAuthenticated: true, principalId: 'cli', policyDocuments: [policy], disconnectAfterInSeconds: 86400, refreshAfterInSeconds: 86400 });
    const refused = await aws('delete-authorizer', '--authorizer-name', 'cli').then(
      () => undefined,
      (err: { stderr: string }) => err.stderr,
    );
    expect(refused).toContain('DeleteConflictException');
    await aws('update-authorizer', '--authorizer-name', 'cli', '--status', 'INACTIVE');
    await aws('delete-authorizer', '--authorizer-name', 'cli');
  }, 60_000);
});
