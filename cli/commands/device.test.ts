/**
 * `kiot device create` against the real API on loopback: what it creates, the files it writes,
 * the decisions its policy gives, and a mutual-TLS handshake with the files it wrote.
 */
import { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSecurityApi, TEST_ACCOUNT, type SecurityApiKit } from '../../api/routes/testing/security-api.js';
import { createDevice, dataDirCredentials, register } from './device.js';

let kit: SecurityApiKit;
beforeAll(async () => {
  kit = await startSecurityApi();
}, 60_000);
afterAll(async () => kit?.close());

describe('kiot device create', () => {
  test('creates the thing, certificate, policy and attachments, and writes working files', async () => {
    const credentials = await dataDirCredentials(kit.dir);
    expect(credentials?.accessKeyId).toMatch(/^AKIA/);
    const outDir = join(kit.dir, 'devices', 'boiler-7');
    const created = await createDevice({
      thingName: 'boiler-7', endpoint: kit.endpoint, region: 'us-east-1', outDir, policyName: 'boiler-7-policy', credentials, mqttHost: '127.0.0.1', mqttsPort: 8883,
    });

    // Registry state.
    expect(kit.api.registry.thing('boiler-7')).toBeDefined();
    const { certificates, policies, principals } = kit.security;
    expect(certificates.describeCertificate(created.certificateId).status).toBe('ACTIVE');
    expect(policies.principalThings(created.certificateArn, {}).items).toEqual(['boiler-7']);
    expect(policies.attachedPolicies(created.certificateArn, {}).items).toEqual(['boiler-7-policy']);

    // Files: the key is private, the certificate chains to the CA file.
    expect((await stat(created.files.privateKey)).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(await readFile(created.files.certificate));
    const ca = new X509Certificate(await readFile(created.files.ca));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(await readFile(created.files.privateKey)))).toBe(true);

    // The command line names the files and the client id.
    expect(created.mosquittoCommand).toContain(`--cert ${created.files.certificate}`);
    expect(created.mosquittoCommand).toContain('-i boiler-7');
    expect(created.mosquittoCommand).toMatch(/^mosquitto_pub -h 127\.0\.0\.1 -p 8883 /);

    // What the policy lets the device do, as the gateway would ask.
    const principal = principals.authenticateCertificate(cert.fingerprint256)!;
    const can = principal.authorizer.bind(principals.connectionContext(principal, 'boiler-7'));
    const arn = `arn:aws:iot:us-east-1:${TEST_ACCOUNT}:`;
    expect(can('iot:Connect', `${arn}client/boiler-7`)).toBe(true);
    expect(can('iot:Connect', `${arn}client/boiler-8`)).toBe(false);
    expect(can('iot:Publish', `${arn}topic/boiler-7/temperature`)).toBe(true);
    expect(can('iot:Publish', `${arn}topic/$aws/things/boiler-7/shadow/update`)).toBe(true);
    expect(can('iot:Subscribe', `${arn}topicfilter/$aws/things/boiler-7/shadow/update/delta`)).toBe(true);
    expect(can('iot:Subscribe', `${arn}topicfilter/boiler-7/#`)).toBe(true);
    expect(can('iot:Publish', `${arn}topic/$aws/things/boiler-8/shadow/update`)).toBe(false);
    expect(can('iot:Subscribe', `${arn}topicfilter/#`)).toBe(false);
  }, 60_000);

  test('the written files complete a mutual-TLS handshake with a server certificate from the kiot CA', async () => {
    const credentials = await dataDirCredentials(kit.dir);
    const created = await createDevice({
      thingName: 'tls-device', endpoint: kit.endpoint, region: 'us-east-1', outDir: join(kit.dir, 'devices', 'tls'), policyName: 'tls-device-policy', credentials, mqttHost: '127.0.0.1', mqttsPort: 8883,
    });
    const server = await kit.security.certificates.issueServerCertificate(['localhost', '127.0.0.1']);
    const tlsServer = createServer({ key: server.privateKeyPem, cert: server.certificatePem, ca: [server.caCertificatePem], requestCert: true, rejectUnauthorized: true });
    const seen = new Promise<string>((resolve) => tlsServer.on('secureConnection', (s: TLSSocket) => {
      resolve(new X509Certificate(s.getPeerX509Certificate()!.raw).fingerprint256);
      s.end();
    }));
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    const port = (tlsServer.address() as { port: number }).port;
    const client = connect({
      host: '127.0.0.1', port, servername: 'localhost',
      ca: await readFile(created.files.ca), cert: await readFile(created.files.certificate), key: await readFile(created.files.privateKey),
    });
    await new Promise<void>((resolve, reject) => {
      client.once('secureConnect', resolve);
      client.once('error', reject);
    });
    expect(client.authorized).toBe(true);
    const fingerprint = await seen;
    // The gateway finds the device by that fingerprint.
    expect(kit.security.principals.authenticateCertificate(fingerprint)?.certificateId).toBe(created.certificateId);
    client.destroy();
    await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
  }, 60_000);

  test('the command: refuses a second certificate unless --rotate, which revokes the old; one line out; clear failures', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    let exitCode = 0;
    const io = { stdin: new PassThrough(), stdout: out, stderr: err, setExitCode: (c: number) => (exitCode = c) };
    const run = async (...args: string[]) => {
      const program = new Command('kiot').exitOverride();
      register(program, io);
      await program.parseAsync(['node', 'kiot', 'device', 'create', ...args]);
    };
    const common = ['--endpoint', kit.endpoint, '--data-dir', kit.dir, '--mqtts-port', '18883'];
    await run('twice', ...common);
    const first = kit.security.policies.thingPrincipals('twice', {}).items;
    expect(first).toHaveLength(1);
    // The files go to <data-dir>/devices/<thing> by default.
    expect((await stat(join(kit.dir, 'devices', 'twice', 'twice.private.key'))).mode & 0o777).toBe(0o600);

    await expect(run('twice', ...common)).rejects.toThrow(/thing twice already has a certificate \([0-9a-f]{64}\); pass --rotate/);
    expect(kit.security.policies.thingPrincipals('twice', {}).items).toEqual(first);

    await run('twice', ...common, '--rotate');
    const lines = String(out.read()).trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^mosquitto_pub -h 127\.0\.0\.1 -p 18883 .* -i twice /);
    expect(String(err.read())).toMatch(/created thing twice[\s\S]*revoked the old certificate\(s\) [0-9a-f]{64}/);
    expect(exitCode).toBe(0);
    // One certificate on the thing and the policy: the new one; the old one is REVOKED.
    const now = kit.security.policies.thingPrincipals('twice', {}).items;
    expect(now).toHaveLength(1);
    expect(now).not.toEqual(first);
    expect(kit.security.policies.targetsForPolicy('twice-policy', {}).items).toEqual(now);
    const oldId = first[0]!.slice(first[0]!.lastIndexOf('/') + 1);
    expect(kit.security.certificates.describeCertificate(oldId).status).toBe('REVOKED');

    await expect(run('nobody', '--endpoint', kit.endpoint, '--data-dir', join(kit.dir, 'missing'))).rejects.toThrow(/no credentials/);
    // Nothing listening: one line that says so.
    await expect(run('nobody', '--endpoint', 'http://127.0.0.1:1', '--data-dir', kit.dir)).rejects.toThrow(
      'cannot reach kiot at http://127.0.0.1:1 (ECONNREFUSED): is kiot running (kiot up), and is --endpoint right?',
    );
  }, 60_000);
});
