/** The public surface of the certificates, policies and principals part of the registry. */
export { createSecurityService, arnScopeOf, thingsDirectory, type SecurityService, type SecurityServiceDeps, type SecurityServices } from './security-service.js';
export { PrincipalDirectory, type CertificateRef, type PrincipalChange, type PrincipalInfo, type ThingInfo, type ThingLookup } from './principals.js';
export { SecurityStore, KEYS as SECURITY_KEYS, type CaRecord, type CertificateRecord, type CertificateStatus, type PolicyRecord, type PolicyVersionRecord } from './store.js';
export { CertificateService, KIOT_CA_NAME, type PreparedCertificate } from '../certificates/certificate-service.js';
export { PolicyService, MAX_POLICY_VERSIONS, type ThingDirectory } from '../policies/policy-service.js';
export { compilePolicies, parsePolicyDocument, iotArn, type ArnScope, type AuthContext, type BoundAuthorizer, type CompiledPolicies, type RequestKeys } from '../policies/engine.js';
export type { CertificateFields } from '../certificates/x509.js';
export { DeviceAuthorizer, type DeviceConnectResult, type DeviceSession, type HttpDeviceResult, type HttpDeviceSession } from './device-auth.js';
