import { X509Certificate } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { certificateFields, certificateId, createCa, fingerprintToId, generateRsaKeyPair, issueCertificate } from './x509.js';

describe('x509', () => {
  test('an issued server certificate chains to the CA and carries its names; fields read subject, issuer and SAN', async () => {
    const ca = await createCa('test CA');
    const keys = await generateRsaKeyPair();
    const pem = await issueCertificate(ca, { publicKey: keys.publicKeyPem, subject: 'CN=gw.example, O=Acme, O=Acme Labs, C=DE', serverNames: ['gw.example', '127.0.0.1'] });
    const cert = new X509Certificate(pem);
    const caCert = new X509Certificate(ca.certificatePem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(caCert.ca).toBe(true);
    expect(cert.checkHost('gw.example')).toBe('gw.example');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');

    const fields = certificateFields(cert.raw);
    expect(fields.subject).toEqual({ CommonName: ['gw.example'], Organization: ['Acme', 'Acme Labs'], Country: ['DE'] });
    expect(fields.issuer['CommonName']).toEqual(['test CA']);
    expect(fields.subjectAlternativeName['DNSName']).toEqual(['gw.example']);
    expect(fields.subjectAlternativeName['IPAddress']).toEqual(['127.0.0.1']);
    expect(fields.serialNumber).toMatch(/^[0-9a-f]+$/i);
    expect(certificateId(cert.raw)).toBe(fingerprintToId(cert.fingerprint256));
  }, 30_000);
});
