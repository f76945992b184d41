/**
 * An `Authenticator` for the anonymous loopback listeners that holds every client to one AWS
 * IoT policy document (`--anonymous-policy FILE`), as AWS IoT holds a device to the policies of
 * its certificate: `iot:Connect` on `client/<clientId>`, `iot:Publish` and `iot:Receive` on
 * `topic/<name>`, `iot:Subscribe` on `topicfilter/<filter>`. Policy variables work as for
 * devices where they have a value here (`${iot:ClientId}`, `${iot:Connection.Thing...}` never
 * does: an anonymous client is attached to no thing).
 *
 * The principal stays `anonymous`: a policy says what such a client may do, it does not make it
 * anyone (one identity per client id still holds, see `isAnonymous`).
 */
import { readFileSync } from 'node:fs';
import { PlatformError } from '../core/index.js';
import { compilePolicies, iotArn, parsePolicyDocument, type ArnScope, type BoundAuthorizer } from '../registry/index.js';
import { ANONYMOUS_PRINCIPAL, type Authenticator, type ClientContext } from './auth.js';

/**
 * Reads and checks the policy file.
 * @throws PlatformError CONFIG_INVALID naming the file when it cannot be read or is not a valid
 *   AWS IoT policy document.
 */
export function readAnonymousPolicy(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PlatformError('CONFIG_INVALID', `anonymousPolicy ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err, details: { field: 'anonymousPolicy' } });
  }
  try {
    parsePolicyDocument(text);
  } catch (err) {
    throw new PlatformError('CONFIG_INVALID', `anonymousPolicy ${path}: ${(err as Error).message}`, { cause: err, details: { field: 'anonymousPolicy' } });
  }
  return text;
}

export function createAnonymousPolicyAuthenticator(document: string, scope: ArnScope): Authenticator {
  const policies = compilePolicies([document]);
  const topicArn = iotArn(scope, 'topic', '');
  const filterArn = iotArn(scope, 'topicfilter', '');
  const bound = (client: ClientContext): BoundAuthorizer => client.state as BoundAuthorizer;
  return {
    authenticate(info) {
      const authorize = policies.bind({ clientId: info.clientId, sourceIp: info.remoteAddress.replace(/:\d+$/, '') });
      if (!authorize('iot:Connect', iotArn(scope, 'client', info.clientId))) return { ok: false, reason: 'not-authorized' };
      return { ok: true, principal: ANONYMOUS_PRINCIPAL, state: authorize };
    },
    authorizePublish: (client, topic) => bound(client)('iot:Publish', topicArn + topic),
    authorizeSubscribe: (client, filter) => bound(client)('iot:Subscribe', filterArn + filter),
    authorizeReceive: (client, topic) => bound(client)('iot:Receive', topicArn + topic),
  };
}
