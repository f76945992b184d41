/**
 * Who signed an API request, and what that key may do. Every signed route (the AWS operations,
 * HTTP Publish, `/kiot/*` and, with `--metrics-auth`, `/metrics`) authenticates through
 * `createRequestAuthenticator`, so there is one way in.
 *
 * A key without a policy document is an administrator key (the one `kiot up` writes to
 * `<data-dir>/credentials` on first start): it may call everything. A key with one is held to
 * it, evaluated by the registry's AWS IoT policy engine:
 * - Publish: `iot:Publish` on `topic/<topic>`, and `iot:RetainPublish` on the same ARN when
 *   `retain=true`, as AWS IoT authorizes HTTPS publishes (developer guide, "Publish/Subscribe
 *   policy examples" and "AWS IoT Core policy actions").
 * - every other AWS operation: `iot:<OperationName>` (IAM's action names, e.g. `iot:CreateThing`)
 *   on the account-wide resource `arn:aws:iot:<region>:<account>:*`, so `"Resource": "*"` is
 *   what allows it; kiot does not model IAM's per-operation resource ARNs.
 * - kiot's own routes marked admin-only (creating access keys): never.
 */
import { compilePolicies, type ArnScope, type BoundAuthorizer } from '../registry/index.js';
import type { AccessKey } from './access-keys.js';
import { verifySigV4, type SigV4Identity, type SignedRequest } from './sigv4.js';

/** The verified signer of a request. */
export interface ApiCaller extends SigV4Identity {
  /** True for a key without a policy document: every operation is allowed. */
  readonly admin: boolean;
  /** Whether the key may do `action` on `resourceArn` (always true for an administrator key). */
  allows(action: string, resourceArn: string): boolean;
  /** Whether the key may call an AWS operation by name (`iot:<name>` on the account's resources). */
  allowsOperation(operationName: string): boolean;
}

/** What the authenticator reads from the access key store. */
export interface AccessKeyLookup {
  get(accessKeyId: string): AccessKey | undefined;
  secretFor(accessKeyId: string): string | undefined;
}

export interface RequestAuthenticatorOptions {
  readonly accessKeys: AccessKeyLookup;
  /** The only region requests may be signed for; undefined = any. */
  readonly region: string | undefined;
  /** Region and account of the ARNs policies are matched against. */
  readonly scope: ArnScope;
  readonly clock?: () => number;
}

/** Verifies a request's signature and returns its caller; throws AUTH_* PlatformErrors (see `verifySigV4`). */
export type RequestAuthenticator = (request: SignedRequest) => ApiCaller;

export function createRequestAuthenticator(options: RequestAuthenticatorOptions): RequestAuthenticator {
  const clock = options.clock ?? Date.now;
  const { partition = 'aws', region, accountId } = options.scope;
  const accountResource = `arn:${partition}:iot:${region}:${accountId}:*`;
  // Compiled once per key and document; a key whose policy changes (re-created) compiles again.
  const bound = new Map<string, { document: string; authorize: BoundAuthorizer }>();
  const authorizerFor = (key: AccessKey, document: string): BoundAuthorizer => {
    const cached = bound.get(key.accessKeyId);
    if (cached?.document === document) return cached.authorize;
    let authorize: BoundAuthorizer;
    try {
      authorize = compilePolicies([document]).bind({});
    } catch {
      authorize = () => false; // validated on creation; a document that no longer compiles allows nothing
    }
    if (bound.size >= 10_000) bound.clear();
    bound.set(key.accessKeyId, { document, authorize });
    return authorize;
  };
  return (request) => {
    const identity = verifySigV4(request, { now: clock(), secretFor: (id) => options.accessKeys.secretFor(id), region: options.region });
    const key = options.accessKeys.get(identity.accessKeyId);
    const document = key?.policyDocument;
    if (key !== undefined && document === undefined) return { ...identity, admin: true, allows: () => true, allowsOperation: () => true };
    const authorize = key === undefined ? () => false : authorizerFor(key, document!);
    return {
      ...identity,
      admin: false,
      allows: (action, resourceArn) => authorize(action, resourceArn),
      allowsOperation: (name) => authorize(`iot:${name}`, accountResource),
    };
  };
}
