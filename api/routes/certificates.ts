/**
 * Certificates and CA certificates (AWS IoT API reference): paths, query members and JSON
 * shapes as `@aws-sdk/client-iot` sends and parses them. Timestamps are epoch seconds.
 */
import { PlatformError } from '../../core/index.js';
import type { CaRecord, CertificateRecord, CertificateService } from '../../registry/index.js';
import { parseTemplate } from '../../provisioning/index.js';
import type { AwsOperation, AwsRequest } from '../operation.js';
import { bodyObject, compact, epochSeconds, optionalBoolean, optionalObject, optionalString, queryBoolean, queryInteger, queryString } from './aws-input.js';

/**
 * A CA's registrationConfig (JITP): its templateBody must be a template kiot can apply, checked
 * when it is stored rather than when the first device connects.
 */
function registrationConfig(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const config = optionalObject(body, 'registrationConfig');
  const templateBody = config?.['templateBody'];
  if (typeof templateBody === 'string') {
    try {
      parseTemplate(templateBody);
    } catch (err) {
      if (err instanceof PlatformError) throw new PlatformError(err.code, `registrationConfig.${err.message}`, { cause: err });
      throw err;
    }
  }
  return config;
}

/** AWS IoT certificate ids: 64 hex characters (the SHA-256 of the DER). */
const CERTIFICATE_ID = /^(0x)?[a-fA-F0-9]{64}$/;

function certificateIdParam(request: AwsRequest, name = 'certificateId'): string {
  const id = request.params[name] ?? '';
  if (!CERTIFICATE_ID.test(id)) {
    throw new PlatformError('REGISTRY_INVALID', `${name}: expected 64 hexadecimal characters, received ${JSON.stringify(id)}`, { details: { field: name } });
  }
  return id.replace(/^0x/, '').toLowerCase();
}

function describeCertificateOutput(service: CertificateService, c: CertificateRecord): Record<string, unknown> {
  return compact({
    certificateArn: service.certificateArn(c.id),
    certificateId: c.id,
    caCertificateId: c.caCertificateId,
    status: c.status,
    certificatePem: c.pem,
    ownedBy: service.accountId,
    creationDate: epochSeconds(c.createdAt),
    lastModifiedDate: epochSeconds(c.updatedAt),
    customerVersion: c.customerVersion,
    generationId: c.generationId,
    validity: { notBefore: epochSeconds(c.notBefore), notAfter: epochSeconds(c.notAfter) },
    certificateMode: c.mode,
  });
}

function describeCaOutput(service: CertificateService, c: CaRecord): Record<string, unknown> {
  return compact({
    certificateArn: service.caCertificateArn(c.id),
    certificateId: c.id,
    status: c.status,
    certificatePem: c.pem,
    ownedBy: service.accountId,
    creationDate: epochSeconds(c.createdAt),
    autoRegistrationStatus: c.autoRegistrationStatus,
    lastModifiedDate: epochSeconds(c.updatedAt),
    customerVersion: c.customerVersion,
    generationId: c.generationId,
    validity: { notBefore: epochSeconds(c.notBefore), notAfter: epochSeconds(c.notAfter) },
    certificateMode: c.mode,
  });
}

const listRequest = (request: AwsRequest) => ({
  pageSize: queryInteger(request, 'pageSize'),
  marker: queryString(request, 'marker'),
  ascendingOrder: queryBoolean(request, 'isAscendingOrder'),
});

/** The certificate operations, for `createApiService(config, { operations })`. */
export function certificateOperations(service: CertificateService): AwsOperation[] {
  const listOutput = (page: { items: readonly CertificateRecord[]; next: string | undefined }) =>
    compact({
      certificates: page.items.map((c) =>
        compact({ certificateArn: service.certificateArn(c.id), certificateId: c.id, status: c.status, certificateMode: c.mode, creationDate: epochSeconds(c.createdAt) }),
      ),
      nextMarker: page.next,
    });
  return [
    {
      name: 'CreateKeysAndCertificate',
      method: 'POST',
      path: '/keys-and-certificate',
      handle: (request) => service.createKeysAndCertificate({ setAsActive: queryBoolean(request, 'setAsActive') }),
    },
    {
      name: 'CreateCertificateFromCsr',
      method: 'POST',
      path: '/certificates',
      async handle(request) {
        const body = bodyObject(request);
        return service.createCertificateFromCsr({ certificateSigningRequest: optionalString(body, 'certificateSigningRequest'), setAsActive: queryBoolean(request, 'setAsActive') });
      },
    },
    {
      name: 'GetRegistrationCode',
      method: 'GET',
      path: '/registrationcode',
      handle: async () => ({ registrationCode: await service.getRegistrationCode() }),
    },
    {
      name: 'RegisterCACertificate',
      method: 'POST',
      path: '/cacertificate',
      async handle(request) {
        const body = bodyObject(request);
        return service.registerCaCertificate({
          caCertificate: optionalString(body, 'caCertificate'),
          verificationCertificate: optionalString(body, 'verificationCertificate'),
          setAsActive: queryBoolean(request, 'setAsActive'),
          allowAutoRegistration: queryBoolean(request, 'allowAutoRegistration'),
          registrationConfig: registrationConfig(body),
          certificateMode: optionalString(body, 'certificateMode'),
        });
      },
    },
    {
      name: 'RegisterCertificate',
      method: 'POST',
      path: '/certificate/register',
      async handle(request) {
        const body = bodyObject(request);
        const out = await service.registerCertificate({
          certificatePem: optionalString(body, 'certificatePem'),
          caCertificatePem: optionalString(body, 'caCertificatePem'),
          setAsActive: queryBoolean(request, 'setAsActive') ?? optionalBoolean(body, 'setAsActive'),
          status: optionalString(body, 'status'),
        });
        return { certificateArn: out.certificateArn, certificateId: out.certificateId };
      },
    },
    {
      name: 'RegisterCertificateWithoutCA',
      method: 'POST',
      path: '/certificate/register-no-ca',
      async handle(request) {
        const body = bodyObject(request);
        const out = await service.registerCertificateWithoutCa({ certificatePem: optionalString(body, 'certificatePem'), status: optionalString(body, 'status') });
        return { certificateArn: out.certificateArn, certificateId: out.certificateId };
      },
    },
    {
      name: 'DescribeCertificate',
      method: 'GET',
      path: '/certificates/{certificateId}',
      handle: async (request) => ({ certificateDescription: describeCertificateOutput(service, service.describeCertificate(certificateIdParam(request))) }),
    },
    {
      name: 'DescribeCACertificate',
      method: 'GET',
      path: '/cacertificate/{certificateId}',
      async handle(request) {
        const ca = service.describeCaCertificate(certificateIdParam(request));
        return compact({ certificateDescription: describeCaOutput(service, ca), registrationConfig: ca.registrationConfig });
      },
    },
    {
      name: 'UpdateCertificate',
      method: 'PUT',
      path: '/certificates/{certificateId}',
      async handle(request) {
        await service.updateCertificate(certificateIdParam(request), queryString(request, 'newStatus'));
        return {};
      },
    },
    {
      name: 'UpdateCACertificate',
      method: 'PUT',
      path: '/cacertificate/{certificateId}',
      async handle(request) {
        const body = bodyObject(request);
        await service.updateCaCertificate(certificateIdParam(request), {
          newStatus: queryString(request, 'newStatus'),
          newAutoRegistrationStatus: queryString(request, 'newAutoRegistrationStatus'),
          registrationConfig: registrationConfig(body),
          removeAutoRegistration: optionalBoolean(body, 'removeAutoRegistration'),
        });
        return {};
      },
    },
    {
      name: 'DeleteCertificate',
      method: 'DELETE',
      path: '/certificates/{certificateId}',
      async handle(request) {
        await service.deleteCertificate(certificateIdParam(request), { forceDelete: queryBoolean(request, 'forceDelete') });
        return {};
      },
    },
    {
      name: 'DeleteCACertificate',
      method: 'DELETE',
      path: '/cacertificate/{certificateId}',
      async handle(request) {
        await service.deleteCaCertificate(certificateIdParam(request));
        return {};
      },
    },
    {
      name: 'ListCertificates',
      method: 'GET',
      path: '/certificates',
      handle: async (request) => listOutput(service.listCertificates(listRequest(request))),
    },
    {
      name: 'ListCertificatesByCA',
      method: 'GET',
      path: '/certificates-by-ca/{caCertificateId}',
      handle: async (request) => listOutput(service.listCertificates({ ...listRequest(request), caCertificateId: certificateIdParam(request, 'caCertificateId') })),
    },
    {
      name: 'ListCACertificates',
      method: 'GET',
      path: '/cacertificates',
      async handle(request) {
        const page = service.listCaCertificates(listRequest(request));
        return compact({
          certificates: page.items.map((c) => ({ certificateArn: service.caCertificateArn(c.id), certificateId: c.id, status: c.status, creationDate: epochSeconds(c.createdAt) })),
          nextMarker: page.next,
        });
      },
    },
    {
      // kiot's own (not an AWS operation): the CA that issues device certificates and that
      // devices trust for the gateway, so that `kiot device create` can write the CA file.
      name: 'GetKiotCaCertificate',
      method: 'GET',
      path: '/kiot/ca-certificate',
      handle: async () => service.kiotCaCertificate(),
    },
  ];
}
