/** Certificate operations through `@aws-sdk/client-iot` against a real HTTP server on loopback. */
import {
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  DeleteCACertificateCommand,
  DeleteCertificateCommand,
  DescribeCACertificateCommand,
  DescribeCertificateCommand,
  GetRegistrationCodeCommand,
  ListCACertificatesCommand,
  ListCertificatesByCACommand,
  ListCertificatesCommand,
  RegisterCACertificateCommand,
  RegisterCertificateCommand,
  RegisterCertificateWithoutCACommand,
  UpdateCACertificateCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { X509Certificate, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { awsError, startSecurityApi, TEST_ACCOUNT, type SecurityApiKit } from './testing/security-api.js';

let kit: SecurityApiKit;
beforeAll(async () => {
  kit = await startSecurityApi();
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
}, 60_000);
afterAll(async () => kit?.close());

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const ecKeys = async () => (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

describe('certificates over the AWS API', () => {
  test('CreateKeysAndCertificate, DescribeCertificate, UpdateCertificate, DeleteCertificate', async () => {
    const created = await kit.client.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    expect(created.certificateArn).toBe(`arn:aws:iot:us-east-1:${TEST_ACCOUNT}:cert/${created.certificateId}`);
    expect(created.keyPair?.PrivateKey).toContain('PRIVATE KEY');
    const ca = new X509Certificate(kit.security.certificates.kiotCaCertificate().certificatePem);
    expect(new X509Certificate(created.certificatePem!).verify(ca.publicKey)).toBe(true);

    const described = await kit.client.send(new DescribeCertificateCommand({ certificateId: created.certificateId }));
    expect(described.certificateDescription).toMatchObject({ certificateId: created.certificateId, status: 'ACTIVE', ownedBy: TEST_ACCOUNT, certificateMode: 'DEFAULT' });
    expect(described.certificateDescription?.creationDate).toBeInstanceOf(Date);
    expect(Math.abs(described.certificateDescription!.creationDate!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(described.certificateDescription?.validity?.notAfter?.getUTCFullYear()).toBe(2049);

    const active = await awsError(kit.client.send(new DeleteCertificateCommand({ certificateId: created.certificateId })));
    expect(active.name).toBe('CertificateStateException');
    expect(active.$metadata.httpStatusCode).toBe(406);

    await kit.client.send(new UpdateCertificateCommand({ certificateId: created.certificateId, newStatus: 'REVOKED' }));
    const final = await awsError(kit.client.send(new UpdateCertificateCommand({ certificateId: created.certificateId, newStatus: 'ACTIVE' })));
    expect(final.name).toBe('CertificateStateException');
    await kit.client.send(new DeleteCertificateCommand({ certificateId: created.certificateId }));
    const gone = await awsError(kit.client.send(new DescribeCertificateCommand({ certificateId: created.certificateId })));
    expect(gone.name).toBe('ResourceNotFoundException');
    expect(gone.$metadata.httpStatusCode).toBe(404);
    const badId = await awsError(kit.client.send(new DescribeCertificateCommand({ certificateId: 'xyz' })));
    expect(badId.name).toBe('InvalidRequestException');
  }, 30_000);

  test('CreateCertificateFromCsr, and a CSR that is not one', async () => {
    const keys = await ecKeys();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=csr-device', keys, signingAlgorithm: EC });
    const out = await kit.client.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: csr.toString('pem'), setAsActive: true }));
    expect(new X509Certificate(out.certificatePem!).subject).toContain('CN=csr-device');
    const bad = await awsError(kit.client.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: 'garbage' })));
    expect(bad.name).toBe('CertificateValidationException');
  });

  test('RegisterCACertificate with the registration code, RegisterCertificate, the CA listings, RegisterCertificateWithoutCA', async () => {
    const caKeys = await ecKeys();
    const caName = 'CN=Customer Root';
    const caCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: caName, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), keys: caKeys, signingAlgorithm: EC,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const sign = async (subject: string, signer = caKeys, issuer = caName) =>
      (await x509.X509CertificateGenerator.create({
        serialNumber: String(Math.floor(Math.random() * 1e9)), subject, issuer, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000),
        publicKey: (await ecKeys()).publicKey, signingKey: signer.privateKey, signingAlgorithm: EC,
      })).toString('pem');

    const { registrationCode } = await kit.client.send(new GetRegistrationCodeCommand({}));
    expect(registrationCode).toMatch(/^[0-9a-f]{64}$/);
    const wrong = await awsError(kit.client.send(new RegisterCACertificateCommand({ caCertificate: caCert.toString('pem'), verificationCertificate: await sign('CN=wrong') })));
    expect(wrong.name).toBe('RegistrationCodeValidationException');
    const reg = await kit.client.send(new RegisterCACertificateCommand({ caCertificate: caCert.toString('pem'), verificationCertificate: await sign(`CN=${registrationCode}`), setAsActive: true }));
    const dup = await awsError(kit.client.send(new RegisterCACertificateCommand({ caCertificate: caCert.toString('pem'), verificationCertificate: await sign(`CN=${registrationCode}`) })));
    expect(dup.name).toBe('ResourceAlreadyExistsException');

    const ca = await kit.client.send(new DescribeCACertificateCommand({ certificateId: reg.certificateId }));
    expect(ca.certificateDescription).toMatchObject({ certificateId: reg.certificateId, status: 'ACTIVE', autoRegistrationStatus: 'DISABLE' });
    const cas = await kit.client.send(new ListCACertificatesCommand({}));
    expect(cas.certificates?.map((c) => c.certificateId)).toContain(reg.certificateId);

    const device = await kit.client.send(new RegisterCertificateCommand({ certificatePem: await sign('CN=customer-device'), status: 'ACTIVE' }));
    const byCa = await kit.client.send(new ListCertificatesByCACommand({ caCertificateId: reg.certificateId }));
    expect(byCa.certificates?.map((c) => c.certificateId)).toEqual([device.certificateId]);

    const strangerKeys = await ecKeys();
    const stranger = await sign('CN=stranger', strangerKeys, 'CN=Unknown Root');
    const refused = await awsError(kit.client.send(new RegisterCertificateCommand({ certificatePem: stranger })));
    expect(refused.name).toBe('CertificateValidationException');
    const noCa = await kit.client.send(new RegisterCertificateWithoutCACommand({ certificatePem: stranger, status: 'ACTIVE' }));
    const noCaDescribed = await kit.client.send(new DescribeCertificateCommand({ certificateId: noCa.certificateId }));
    expect(noCaDescribed.certificateDescription?.certificateMode).toBe('SNI_ONLY');

    const activeCa = await awsError(kit.client.send(new DeleteCACertificateCommand({ certificateId: reg.certificateId })));
    expect(activeCa.name).toBe('CertificateStateException');
    await kit.client.send(new UpdateCACertificateCommand({ certificateId: reg.certificateId, newStatus: 'INACTIVE', newAutoRegistrationStatus: 'ENABLE' }));
    const inactive = await awsError(kit.client.send(new RegisterCertificateCommand({ certificatePem: await sign('CN=late-device') })));
    expect(inactive.name).toBe('CertificateStateException');
    await kit.client.send(new DeleteCACertificateCommand({ certificateId: reg.certificateId }));
  }, 60_000);

  test('ListCertificates pages with pageSize and marker', async () => {
    for (let i = 0; i < 3; i++) await kit.client.send(new CreateKeysAndCertificateCommand({ setAsActive: false }));
    const all = new Set<string>();
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await kit.client.send(new ListCertificatesCommand({ pageSize: 2, ...(marker ? { marker } : {}) }));
      for (const c of page.certificates ?? []) all.add(c.certificateId!);
      marker = page.nextMarker;
      pages++;
    } while (marker);
    const total = kit.security.certificates.listCertificates({ pageSize: 250 }).items.length;
    expect(all.size).toBe(total);
    expect(pages).toBe(Math.ceil(total / 2));
  }, 60_000);
});
