/**
 * AWS IoT operations kiot does not implement yet, so that a tool calling one gets AWS's error
 * shape with a message naming the operation (501 NotImplementedException), not `404 no route`
 * that reads like a wrong endpoint. Each entry goes when its service lands (issues:
 * Provisioning and custom authentication, fleet indexing).
 *
 * Paths are the AWS API models'.
 */
import { PlatformError } from '../../core/index.js';
import type { AwsOperation } from '../operation.js';

type Method = AwsOperation['method'];

const NOT_YET: readonly (readonly [name: string, method: Method, path: string])[] = [
  // Fleet indexing
  ['SearchIndex', 'POST', '/indices/search'],
  ['GetIndexingConfiguration', 'GET', '/indexing/config'],
  ['UpdateIndexingConfiguration', 'POST', '/indexing/config'],
];

/** One operation per entry above, each answering NOT_IMPLEMENTED with its name. */
export function notImplementedOperations(): AwsOperation[] {
  return NOT_YET.map(([name, method, path]) => ({
    name,
    method,
    path,
    handle: async () => {
      throw new PlatformError('NOT_IMPLEMENTED', `kiot does not implement ${name} yet`, { details: { operation: name } });
    },
  }));
}
