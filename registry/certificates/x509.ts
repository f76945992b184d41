/**
 * X.509 work for the registry: key pairs, the kiot CA, issuing certificates, parsing PEM and
 * CSRs, and reading the subject/issuer fields that policy variables need. This is the only
 * module that imports `@peculiar/x509` (ASN.1 is never built by hand); signature checks use
 * Node's own `crypto.X509Certificate`.
 */
// @peculiar/x509 v2 resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, generateKeyPair as generateKeyPairCb, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { PlatformError } from '../../core/index.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const generateKeyPairAsync = promisify(generateKeyPairCb);

/** RSA 2048 with SHA-256, as the certificates AWS IoT issues from CreateKeysAndCertificate. */
const RSA_SIGNING: webcrypto.RsaHashedImportParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
const RSA_MODULUS_BITS = 2048;
/** AWS IoT-issued device certificates are valid until 2049-12-31 (they never expire in practice). */
export const DEVICE_CERT_NOT_AFTER = new Date(Date.UTC(2049, 11, 31, 23, 59, 59));
/** The kiot CA lives for 30 years from first start. */
const CA_VALIDITY_MS = 30 * 365 * 24 * 3600 * 1000;
/** The subject AWS IoT gives the certificates it issues; kiot mirrors it. */
export const ISSUED_SUBJECT = 'CN=AWS IoT Certificate';

export interface PemKeyPair {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

/** A CA that can sign: its certificate and its PKCS#8 private key, both PEM. */
export interface SigningCa {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** Generates an RSA 2048 key pair (PEM: SPKI public key, PKCS#1 private key as AWS returns it). */
export async function generateRsaKeyPair(): Promise<PemKeyPair> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: RSA_MODULUS_BITS });
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}

/** Creates a self-signed CA certificate (basicConstraints CA, keyCertSign) with a fresh RSA key. */
export async function createCa(commonName: string, now = new Date()): Promise<SigningCa> {
  const keys = (await webcrypto.subtle.generateKey(
    { ...RSA_SIGNING, modulusLength: RSA_MODULUS_BITS, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ['sign', 'verify'],
  )) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: new x509.Name([{ CN: [commonName] }, { O: ['kiot'] }]),
    notBefore: now,
    notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
    keys,
    signingAlgorithm: RSA_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certificatePem: cert.toString('pem'), privateKeyPem: toPem('PRIVATE KEY', Buffer.from(pkcs8)) };
}

export interface IssueOptions {
  /** The subject's public key: PEM (SPKI) or a CSR's key. */
  readonly publicKey: string | x509.PublicKey;
  readonly subject?: string | x509.Name;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** DNS names and IP addresses for a server certificate (subjectAltName, serverAuth). */
  readonly serverNames?: readonly string[];
}

/** Signs a leaf certificate with the CA's key; returns its PEM. */
export async function issueCertificate(ca: SigningCa, options: IssueOptions): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certificatePem);
  const signingKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.privateKeyPem), RSA_SIGNING, false, ['sign']);
  const publicKey = typeof options.publicKey === 'string' ? new x509.PublicKey(pemBody(options.publicKey)) : options.publicKey;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (options.serverNames && options.serverNames.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.serverNames.map((n) => ({ type: /^[\d.]+$|:/.test(n) ? 'ip' : 'dns', value: n }) as x509.JsonGeneralName),
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    );
  } else {
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: options.subject ?? ISSUED_SUBJECT,
    issuer: caCert.subjectName,
    notBefore: options.notBefore ?? new Date(),
    notAfter: options.notAfter ?? DEVICE_CERT_NOT_AFTER,
    publicKey,
    signingKey,
    signingAlgorithm: RSA_SIGNING,
    extensions,
  });
  return cert.toString('pem');
}

/** A parsed CSR whose self-signature has been checked. Throws CERTIFICATE_INVALID otherwise. */
export async function parseCsr(pem: string): Promise<{ publicKey: x509.PublicKey; subject: x509.Name }> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new PlatformError('CERTIFICATE_INVALID', 'certificateSigningRequest: not a PEM PKCS#10 request', { cause: err });
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new PlatformError('CERTIFICATE_INVALID', 'certificateSigningRequest: its signature cannot be checked', { cause: err });
  }
  if (!valid) throw new PlatformError('CERTIFICATE_INVALID', 'certificateSigningRequest: its signature does not verify');
  return { publicKey: csr.publicKey, subject: csr.subjectName };
}

/** Parses one PEM certificate with Node's crypto; throws CERTIFICATE_INVALID naming the field. */
export function parseCertificatePem(pem: unknown, field: string): X509Certificate {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new PlatformError('CERTIFICATE_INVALID', `${field}: expected a PEM certificate`, { details: { field } });
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new PlatformError('CERTIFICATE_INVALID', `${field}: the certificate cannot be parsed`, { cause: err, details: { field } });
  }
}

/** AWS IoT's certificate id: the SHA-256 of the DER bytes, lowercase hex. */
export const certificateId = (der: Buffer): string => createHash('sha256').update(der).digest('hex');

/** Turns `AB:CD:...` (Node's `fingerprint256`) or hex into a certificate id. */
export const fingerprintToId = (fingerprint: string): string => fingerprint.replace(/:/g, '').toLowerCase();

/** PEM of the DER bytes, normalised so that the same certificate always prints the same. */
export const certificateToPem = (cert: X509Certificate): string => toPem('CERTIFICATE', cert.raw);

/** Subject and issuer attributes by AWS policy-variable name (`CommonName`, ...), every value in order. */
export type NameFields = Readonly<Record<string, readonly string[]>>;

/** What `iot:Certificate.*` policy variables read from a certificate. */
export interface CertificateFields {
  readonly subject: NameFields;
  readonly issuer: NameFields;
  /** By AWS name: `DNSName`, `RFC822Name`, `UniformResourceIdentifier`, `IPAddress`, `DirectoryName`. */
  readonly subjectAlternativeName: NameFields;
  readonly issuerAlternativeName: NameFields;
  /** Hex, as OpenSSL prints it without colons. */
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
}

/** AWS's attribute names (cert-policy-variables) and their OIDs. */
const NAME_ATTRIBUTES: readonly (readonly [string, string])[] = [
  ['CommonName', '2.5.4.3'],
  ['Surname', '2.5.4.4'],
  ['SerialNumber', '2.5.4.5'],
  ['Country', '2.5.4.6'],
  ['Locality', '2.5.4.7'],
  ['State', '2.5.4.8'],
  ['Organization', '2.5.4.10'],
  ['OrganizationalUnit', '2.5.4.11'],
  ['Title', '2.5.4.12'],
  ['GivenName', '2.5.4.42'],
  ['Initials', '2.5.4.43'],
  ['GenerationQualifier', '2.5.4.44'],
  ['DistinguishedNameQualifier', '2.5.4.46'],
  ['Pseudonym', '2.5.4.65'],
];

const GENERAL_NAME_TYPES: Readonly<Record<string, string>> = {
  dns: 'DNSName',
  email: 'RFC822Name',
  url: 'UniformResourceIdentifier',
  ip: 'IPAddress',
  dn: 'DirectoryName',
};

/** Reads the fields policy variables use. Never throws on odd certificates; missing parts stay empty. */
export function certificateFields(der: Buffer): CertificateFields {
  const cert = new x509.X509Certificate(der);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  // Issuer alternative name (2.5.29.18) has the same GeneralNames body as the SAN extension.
  const ian = cert.getExtension('2.5.29.18');
  return {
    subject: nameFields(cert.subjectName),
    issuer: nameFields(cert.issuerName),
    subjectAlternativeName: san ? generalNameFields(san.names) : {},
    issuerAlternativeName: ian ? safeGeneralNames(ian.value) : {},
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  };
}

function nameFields(name: x509.Name): NameFields {
  const out: Record<string, string[]> = {};
  for (const [label, oid] of NAME_ATTRIBUTES) {
    const values = name.getField(oid);
    if (values.length > 0) out[label] = values;
  }
  return out;
}

function generalNameFields(names: x509.GeneralNames): NameFields {
  const out: Record<string, string[]> = {};
  for (const item of names.items) {
    const label = GENERAL_NAME_TYPES[item.type];
    if (label) (out[label] ??= []).push(item.value);
  }
  return out;
}

function safeGeneralNames(value: ArrayBuffer): NameFields {
  try {
    return generalNameFields(new x509.GeneralNames(value));
  } catch {
    return {};
  }
}

/** The subject's emailAddress attribute (PKCS #9), which some device CAs put in the subject. */
const EMAIL_ADDRESS_OID = '1.2.840.113549.1.9.1';

/**
 * The subject's attributes by AWS name, first value of each, plus `Email` (emailAddress):
 * what just-in-time provisioning passes a template as `AWS::IoT::Certificate::<name>`.
 */
export function subjectAttributes(der: Buffer): Record<string, string> {
  const name = new x509.X509Certificate(der).subjectName;
  const out: Record<string, string> = {};
  for (const [label, oid] of [...NAME_ATTRIBUTES, ['Email', EMAIL_ADDRESS_OID] as const]) {
    const value = name.getField(oid)[0];
    if (value !== undefined) out[label] = value;
  }
  return out;
}

/** Whether the certificate's basicConstraints says it is a CA. */
export const isCaCertificate = (cert: X509Certificate): boolean => cert.ca;

/** Common name of a certificate's subject (first value), if any. */
export function subjectCommonName(cert: X509Certificate): string | undefined {
  return new x509.X509Certificate(cert.raw).subjectName.getField('2.5.4.3')[0];
}

/** A random positive 16-byte serial number in hex. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive INTEGER
  return bytes.toString('hex');
}

function toPem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END)[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}
