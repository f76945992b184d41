/**
 * kiot's own access key management (AWS has IAM for this; kiot keeps its keys itself):
 * `POST /kiot/access-keys` with `{"policyDocument": ..., "description": ...}` creates a key
 * restricted to an AWS IoT policy document (see `api/caller.ts`), and
 * `DELETE /kiot/access-keys/{accessKeyId}` removes one. Administrator keys only: a restricted
 * key must not mint itself a wider one.
 */
import { PlatformError } from '../../core/index.js';
import { parsePolicyDocument } from '../../registry/index.js';
import type { AccessKeyStore } from '../access-keys.js';
import type { AwsOperation } from '../operation.js';
import { bodyObject, optionalString } from './aws-input.js';

export function accessKeyOperations(store: AccessKeyStore, clock: () => number): AwsOperation[] {
  return [
    {
      name: 'KiotCreateAccessKey',
      method: 'POST',
      path: '/kiot/access-keys',
      access: 'admin',
      async handle(request) {
        const body = bodyObject(request);
        const raw = body['policyDocument'];
        if (raw === undefined) throw new PlatformError('INPUT_INVALID', 'policyDocument: expected an AWS IoT policy document (JSON text or object); a restricted key needs one');
        const policyDocument = typeof raw === 'string' ? raw : JSON.stringify(raw);
        parsePolicyDocument(policyDocument); // POLICY_MALFORMED → MalformedPolicyException (400)
        const description = optionalString(body, 'description');
        const key = await store.create(clock(), description, policyDocument);
        return {
          accessKeyId: key.accessKeyId,
          secretAccessKey: key.secretAccessKey,
          status: key.status,
          createdAt: new Date(key.createdAt).toISOString(),
          ...(key.description ? { description: key.description } : {}),
          policyDocument,
        };
      },
    },
    {
      name: 'KiotDeleteAccessKey',
      method: 'DELETE',
      path: '/kiot/access-keys/{accessKeyId}',
      access: 'admin',
      async handle(request) {
        await store.delete(request.params['accessKeyId'] ?? ''); // REGISTRY_NOT_FOUND → ResourceNotFoundException (404)
        return {};
      },
    },
  ];
}
