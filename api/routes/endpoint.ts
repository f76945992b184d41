/**
 * DescribeEndpoint (`GET /endpoint?endpointType=`): where devices reach kiot. AWS IoT answers
 * one host per endpoint type; kiot has one gateway for all of them (data, jobs, credentials),
 * so every type answers the same address: the host name the caller used to reach the API
 * (what it knows kiot by), with the MQTT-over-TLS port when it is not the usual 8883.
 */
import { PlatformError } from '../../core/index.js';
import type { AwsOperation } from '../operation.js';
import { queryString } from './aws-input.js';

/** AWS IoT's endpoint types (DescribeEndpoint, API reference); absent means `iot:Data`. */
const ENDPOINT_TYPES = new Set(['iot:Data', 'iot:Data-ATS', 'iot:CredentialProvider', 'iot:Jobs']);
const USUAL_MQTTS_PORT = 8883;

/** `mqttsPort` is read per request: the gateway binds after the API starts (port 0 picks one). */
export function endpointOperations(mqttsPort: () => number | undefined): AwsOperation[] {
  return [
    {
      name: 'DescribeEndpoint',
      method: 'GET',
      path: '/endpoint',
      async handle(request) {
        const type = queryString(request, 'endpointType');
        if (type !== undefined && !ENDPOINT_TYPES.has(type)) {
          throw new PlatformError('INPUT_INVALID', `endpointType: expected one of ${[...ENDPOINT_TYPES].join(', ')}, received ${JSON.stringify(type)}`, { details: { field: 'endpointType' } });
        }
        const host = new URL(`http://${request.headers.host ?? '127.0.0.1'}`).hostname;
        const port = mqttsPort();
        return { endpointAddress: port === undefined || port === USUAL_MQTTS_PORT ? host : `${host}:${port}` };
      },
    },
  ];
}
