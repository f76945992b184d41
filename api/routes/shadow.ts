/**
 * The Device Shadow data plane (AWS IoT API reference, "AWS IoT Data Plane"): GetThingShadow,
 * UpdateThingShadow, DeleteThingShadow (`/things/{thingName}/shadow?name=`) and
 * ListNamedShadowsForThing, in the shapes `@aws-sdk/client-iot-data-plane` and
 * `aws iot-data` send and read. The body of an answer is the shadow service's document (the
 * SDKs hand it over as the `payload` blob). Each is held to the caller's policy on the thing
 * (`iot:GetThingShadow` ... on `arn:aws:iot:<region>:<account>:thing/<thing>`), as AWS IoT
 * authorizes them; an administrator key may call them all.
 */
import { PlatformError } from '../../core/index.js';
import { iotArn, paginate, type ArnScope } from '../../registry/index.js';
import { versionDocument, type ShadowId, type ShadowOperation, type Shadows } from '../../shadow/index.js';
import type { AwsOperation, AwsRequest } from '../operation.js';
import { queryInteger, queryString } from './aws-input.js';

/** The AWS exception of each status the shadow service answers with (data plane error shapes). */
const EXCEPTIONS: Readonly<Record<number, string>> = {
  400: 'InvalidRequestException',
  401: 'UnauthorizedException',
  403: 'ForbiddenException',
  404: 'ResourceNotFoundException',
  405: 'MethodNotAllowedException',
  409: 'ConflictException',
  413: 'RequestEntityTooLargeException',
  415: 'UnsupportedDocumentEncodingException',
  429: 'ThrottlingException',
  503: 'ServiceUnavailableException',
};

export function shadowOperations(shadows: Shadows, scope: ArnScope): AwsOperation[] {
  /** The shadow a request names, once the caller may `iot:<operation>` on its thing. */
  const target = (request: AwsRequest, operation: string): ShadowId => {
    const thingName = request.params['thingName']!;
    authorize(request, operation, scope, thingName);
    const shadowName = request.query.get('name');
    return { thingName, ...(shadowName !== null ? { shadowName } : {}) };
  };
  const call = (name: string, op: ShadowOperation) => async (request: AwsRequest) => {
    const result = await shadows.request(target(request, name), op, request.rawBody ?? Buffer.alloc(0));
    if (result.ok) return result.body;
    throw shadowError(result.error.code, result.error.message);
  };
  const get = call('GetThingShadow', 'get');
  return [
    {
      name: 'GetThingShadow',
      method: 'GET',
      path: '/things/{thingName}/shadow',
      access: 'self',
      bodyFormat: 'raw',
      // `?version=N` (a kiot extension): that version from the shadow's history, while retention keeps it.
      async handle(request) {
        const version = queryInteger(request, 'version');
        if (version === undefined) return get(request);
        const id = target(request, 'GetThingShadow');
        const entry = (await shadows.history(id)).findLast((e) => e.version === version && e.document);
        if (!entry?.document) throw shadowError(404, `No version ${version} of shadow '${id.shadowName ?? id.thingName}' is kept`);
        return versionDocument(entry.document);
      },
    },
    {
      name: 'GetThingShadowHistory',
      method: 'GET',
      path: '/kiot/shadows/{thingName}/history',
      access: 'self',
      // kiot's own: every version retention keeps, oldest first (`kiot shadow history`).
      async handle(request) {
        const since = queryInteger(request, 'since');
        const entries = await shadows.history(target(request, 'GetThingShadow'), since === undefined ? {} : { since });
        return { versions: entries.map((e) => (e.document ? versionDocument(e.document) : { version: e.version, timestamp: e.timestamp, deleted: true })) };
      },
    },
    { name: 'UpdateThingShadow', method: 'POST', path: '/things/{thingName}/shadow', access: 'self', bodyFormat: 'raw', handle: call('UpdateThingShadow', 'update') },
    { name: 'DeleteThingShadow', method: 'DELETE', path: '/things/{thingName}/shadow', access: 'self', bodyFormat: 'raw', handle: call('DeleteThingShadow', 'delete') },
    {
      name: 'ListNamedShadowsForThing',
      method: 'GET',
      path: '/api/things/shadow/ListNamedShadowsForThing/{thingName}',
      access: 'self',
      async handle(request) {
        const thingName = request.params['thingName']!;
        authorize(request, 'ListNamedShadowsForThing', scope, thingName);
        const nextToken = queryString(request, 'nextToken');
        const pageSize = queryInteger(request, 'pageSize');
        const page = paginate(shadows.namedShadows(thingName), (name) => name, { ...(nextToken ? { nextToken } : {}), ...(pageSize !== undefined ? { maxResults: pageSize } : {}) });
        return { results: page.items, timestamp: Math.floor(Date.now() / 1000), ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
      },
    },
  ];
}

function shadowError(code: number, message: string): PlatformError {
  const type = EXCEPTIONS[code];
  return new PlatformError('INPUT_INVALID', message, { details: { awsErrorType: type ?? 'InternalFailureException', awsStatus: type ? code : 500 } });
}

/** Refuses a caller whose policy does not allow `iot:<name>` on the thing (data-plane operations). */
export function authorize(request: AwsRequest, name: string, scope: ArnScope, thingName: string): void {
  const caller = request.caller;
  if (caller?.allows(`iot:${name}`, iotArn(scope, 'thing', thingName))) return;
  throw new PlatformError('AUTH_FORBIDDEN', `User: ${request.accessKeyId} is not authorized to perform: iot:${name} on resource: thing/${thingName}`, {
    details: { awsErrorType: 'ForbiddenException', awsStatus: 403 },
  });
}
