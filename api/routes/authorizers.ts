/**
 * Custom authorizers (AWS IoT API reference): CreateAuthorizer, DescribeAuthorizer,
 * ListAuthorizers, UpdateAuthorizer, DeleteAuthorizer, SetDefaultAuthorizer,
 * DescribeDefaultAuthorizer, ClearDefaultAuthorizer and TestInvokeAuthorizer, at the REST paths
 * and with the shapes `@aws-sdk/client-iot` sends.
 */
import { PlatformError } from '../../core/index.js';
import type { AuthorizerRecord, AuthorizerService, CustomAuthorizers, TestInvokeRequest } from '../../registry/index.js';
import type { AwsOperation, AwsRequest } from '../operation.js';
import { bodyObject, compact, epochSeconds, optionalObject, optionalString, queryBoolean, queryInteger, queryString } from './aws-input.js';

export function authorizerOperations(service: AuthorizerService, runtime: CustomAuthorizers): AwsOperation[] {
  const name = (request: AwsRequest): string => request.params['authorizerName']!;
  const ref = (record: AuthorizerRecord) => ({ authorizerName: record.authorizerName, authorizerArn: service.authorizerArn(record.authorizerName) });
  const description = (record: AuthorizerRecord) => ({
    authorizerDescription: compact({
      ...ref(record),
      authorizerFunctionArn: record.authorizerFunctionArn,
      tokenKeyName: record.tokenKeyName,
      tokenSigningPublicKeys: record.tokenSigningPublicKeys,
      status: record.status,
      creationDate: epochSeconds(record.createdAt),
      lastModifiedDate: epochSeconds(record.updatedAt),
      signingDisabled: record.signingDisabled,
      enableCachingForHttp: record.enableCachingForHttp,
    }),
  });
  return [
    {
      name: 'CreateAuthorizer',
      method: 'POST',
      path: '/authorizer/{authorizerName}',
      async handle(request) {
        return ref(await service.createAuthorizer(name(request), bodyObject(request)));
      },
    },
    {
      name: 'DescribeAuthorizer',
      method: 'GET',
      path: '/authorizer/{authorizerName}',
      async handle(request) {
        return description(service.describeAuthorizer(name(request)));
      },
    },
    // The AWS model's path has a trailing slash, which the AWS CLI sends; the JavaScript SDK sends it without.
    ...['/authorizers', '/authorizers/'].map(
      (path): AwsOperation => ({
        name: 'ListAuthorizers',
        method: 'GET',
        path,
        async handle(request) {
          const page = service.listAuthorizers({
            pageSize: queryInteger(request, 'pageSize'),
            marker: queryString(request, 'marker'),
            ascendingOrder: queryBoolean(request, 'isAscendingOrder'),
            status: queryString(request, 'status'),
          });
          return compact({ authorizers: page.items.map(ref), nextMarker: page.next });
        },
      }),
    ),
    {
      name: 'UpdateAuthorizer',
      method: 'PUT',
      path: '/authorizer/{authorizerName}',
      async handle(request) {
        return ref(await service.updateAuthorizer(name(request), bodyObject(request)));
      },
    },
    {
      name: 'DeleteAuthorizer',
      method: 'DELETE',
      path: '/authorizer/{authorizerName}',
      async handle(request) {
        await service.deleteAuthorizer(name(request));
        return {};
      },
    },
    {
      name: 'SetDefaultAuthorizer',
      method: 'POST',
      path: '/default-authorizer',
      async handle(request) {
        return ref(await service.setDefaultAuthorizer(bodyObject(request)['authorizerName']));
      },
    },
    {
      name: 'DescribeDefaultAuthorizer',
      method: 'GET',
      path: '/default-authorizer',
      async handle() {
        return description(service.describeDefaultAuthorizer());
      },
    },
    {
      name: 'ClearDefaultAuthorizer',
      method: 'DELETE',
      path: '/default-authorizer',
      async handle() {
        await service.clearDefaultAuthorizer();
        return {};
      },
    },
    {
      name: 'TestInvokeAuthorizer',
      method: 'POST',
      path: '/authorizer/{authorizerName}/test',
      async handle(request) {
        const answer = await runtime.testInvoke(name(request), testInput(bodyObject(request)));
        return {
          isAuthenticated: answer.isAuthenticated,
          principalId: answer.principalId,
          policyDocuments: answer.policyDocuments,
          refreshAfterInSeconds: answer.refreshAfterInSeconds,
          disconnectAfterInSeconds: answer.disconnectAfterInSeconds,
        };
      },
    },
  ];
}

/** TestInvokeAuthorizerRequest: token, tokenSignature, httpContext, mqttContext (password is base64), tlsContext. */
function testInput(body: Record<string, unknown>): TestInvokeRequest {
  const http = optionalObject(body, 'httpContext');
  const mqtt = optionalObject(body, 'mqttContext');
  const tls = optionalObject(body, 'tlsContext');
  let headers: Record<string, string> = {};
  if (http?.['headers'] !== undefined) {
    const raw = optionalObject(http, 'headers', 'httpContext.headers')!;
    for (const [key, value] of Object.entries(raw)) {
      if (typeof value !== 'string') throw new PlatformError('REGISTRY_INVALID', `httpContext.headers.${key}: expected a string`, { details: { field: `httpContext.headers.${key}` } });
    }
    headers = raw as Record<string, string>;
  }
  const password = mqtt ? optionalString(mqtt, 'password', 'mqttContext.password') : undefined;
  if (password !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(password)) {
    throw new PlatformError('REGISTRY_INVALID', 'mqttContext.password: expected base64', { details: { field: 'mqttContext.password' } });
  }
  return {
    token: optionalString(body, 'token'),
    tokenSignature: optionalString(body, 'tokenSignature'),
    ...(http ? { http: { headers, queryString: optionalString(http, 'queryString', 'httpContext.queryString') ?? '' } } : {}),
    ...(mqtt
      ? {
          mqtt: {
            username: optionalString(mqtt, 'username', 'mqttContext.username'),
            password: password === undefined ? undefined : Buffer.from(password, 'base64'),
            clientId: optionalString(mqtt, 'clientId', 'mqttContext.clientId'),
          },
        }
      : {}),
    ...(tls ? { tls: { serverName: optionalString(tls, 'serverName', 'tlsContext.serverName') } } : {}),
  };
}
