/**
 * Connect-time authentication and per-session authorization for the MQTT gateway, in the
 * terms the gateway has (a client certificate, a client id, topics), on top of
 * `PrincipalDirectory` and the policy engine. The gateway's hook (`ingest/auth.ts`) adapts
 * this to its `Authenticator` interface; nothing here imports ingest/.
 *
 * AWS IoT's rules (device gateway, "Authorization"): a client needs a registered ACTIVE
 * certificate and `iot:Connect` on `client/<clientId>`; every PUBLISH needs `iot:Publish` on
 * `topic/<name>`, every SUBSCRIBE `iot:Subscribe` on `topicfilter/<filter>` (the filter as
 * sent, wildcards literal), every delivery `iot:Receive` on `topic/<name>`.
 */
import type { ArnScope, BoundAuthorizer } from '../policies/engine.js';
import { iotArn } from '../policies/engine.js';
import type { CertificateRef, PrincipalDirectory, PrincipalInfo } from './principals.js';

export type DeviceConnectResult =
  | { readonly ok: true; readonly session: DeviceSession }
  /** `bad-credentials`: no certificate, or one kiot does not know. `not-authorized`: known but not ACTIVE, or iot:Connect denied. */
  | { readonly ok: false; readonly reason: 'bad-credentials' | 'not-authorized'; readonly detail: string };

/** The decisions for one connected client; cheap enough for every packet. */
export interface DeviceSession {
  readonly principal: PrincipalInfo;
  readonly clientId: string;
  /** The thing the connection acts as, when one resolves (see `connectionContext`). */
  readonly thingName: string | undefined;
  canPublish(topic: string): boolean;
  canSubscribe(filter: string): boolean;
  canReceive(topic: string): boolean;
  /** Any other action on a resource ARN (e.g. `iot:RetainPublish`, `iot:GetRetainedMessage`). */
  can(action: string, resourceArn: string): boolean;
}

export class DeviceAuthorizer {
  constructor(
    readonly principals: PrincipalDirectory,
    readonly scope: ArnScope,
  ) {}

  /**
   * Decides a CONNECT. `certificate` is what TLS gave (fingerprint, DER, or undefined when the
   * client sent none). Sessions bind the policies as they were; re-run `connect` (or drop the
   * session) when `principals.onChange` names the certificate.
   */
  connect(certificate: CertificateRef | undefined, clientId: string, remoteAddress?: string): DeviceConnectResult {
    if (certificate === undefined) return { ok: false, reason: 'bad-credentials', detail: 'no client certificate' };
    const principal = this.principals.authenticateCertificate(certificate);
    if (!principal) return { ok: false, reason: 'bad-credentials', detail: 'certificate is not registered' };
    if (!principal.active) return { ok: false, reason: 'not-authorized', detail: `certificate ${principal.certificateId} is ${principal.status}` };
    const context = this.principals.connectionContext(principal, clientId, remoteAddress);
    const bound: BoundAuthorizer = principal.authorizer.bind(context);
    if (!bound('iot:Connect', iotArn(this.scope, 'client', clientId))) {
      return { ok: false, reason: 'not-authorized', detail: `iot:Connect is not allowed for client id ${clientId}` };
    }
    const topicArnPrefix = iotArn(this.scope, 'topic', '');
    const filterArnPrefix = iotArn(this.scope, 'topicfilter', '');
    return {
      ok: true,
      session: {
        principal,
        clientId,
        thingName: context.thing?.name,
        canPublish: (topic) => bound('iot:Publish', topicArnPrefix + topic),
        canSubscribe: (filter) => bound('iot:Subscribe', filterArnPrefix + filter),
        canReceive: (topic) => bound('iot:Receive', topicArnPrefix + topic),
        can: (action, resourceArn) => bound(action, resourceArn),
      },
    };
  }

  /**
   * Decides a request on the device HTTPS listener (port 8443), which has a certificate and no
   * client id: AWS IoT's HTTPS publish checks only `iot:Publish` (and `iot:RetainPublish`), no
   * `iot:Connect` (developer guide, "HTTPS" under "Device communication protocols"). Policy
   * variables that need a client id (`${iot:ClientId}`) stay unresolved, so statements built on
   * them allow nothing here; the thing variables resolve when the certificate has exactly one
   * attached thing. The session is for one request: callers ask again for the next.
   */
  httpSession(certificate: CertificateRef | undefined, remoteAddress?: string): HttpDeviceResult {
    if (certificate === undefined) return { ok: false, reason: 'bad-credentials', detail: 'no client certificate' };
    const principal = this.principals.authenticateCertificate(certificate);
    if (!principal) return { ok: false, reason: 'bad-credentials', detail: 'certificate is not registered' };
    if (!principal.active) return { ok: false, reason: 'not-authorized', detail: `certificate ${principal.certificateId} is ${principal.status}` };
    const { clientId: _none, ...context } = this.principals.connectionContext(principal, '', remoteAddress);
    const bound: BoundAuthorizer = principal.authorizer.bind(context);
    const topicArnPrefix = iotArn(this.scope, 'topic', '');
    return {
      ok: true,
      session: {
        principal,
        thingName: context.thing?.name,
        canPublish: (topic) => bound('iot:Publish', topicArnPrefix + topic),
        canRetainPublish: (topic) => bound('iot:RetainPublish', topicArnPrefix + topic),
        can: (action, resourceArn) => bound(action, resourceArn),
      },
    };
  }
}

/** A device on the HTTPS listener: what it may do in one request. */
export interface HttpDeviceSession {
  readonly principal: PrincipalInfo;
  /** The certificate's only attached thing, when it has exactly one. */
  readonly thingName: string | undefined;
  canPublish(topic: string): boolean;
  /** `iot:RetainPublish` on `topic/<name>`, needed on top of `iot:Publish` for `retain=true`. */
  canRetainPublish(topic: string): boolean;
  /** Any other action on a resource ARN. */
  can(action: string, resourceArn: string): boolean;
}

export type HttpDeviceResult =
  | { readonly ok: true; readonly session: HttpDeviceSession }
  | { readonly ok: false; readonly reason: 'bad-credentials' | 'not-authorized'; readonly detail: string };
