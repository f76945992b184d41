/**
 * Provisioning templates, RegisterThing and bulk registration tasks (API reference, "AWS IoT"),
 * with the paths, members and exceptions `@aws-sdk/client-iot` sends and reads; the service is
 * provisioning/. A template body is checked when it is stored: a fault is one
 * InvalidRequestException naming the JSON path (`templateBody: $.Resources.thing...: ...`).
 */
import { PlatformError } from '../../core/index.js';
import { TASK_STATUSES, TEMPLATE_TYPES, parseTemplate, type PreProvisioningHookConfig, type Provisioning, type TaskStatus, type TemplateRecord, type TemplateType } from '../../provisioning/index.js';
import type { AwsOperation, AwsRequest } from '../operation.js';
import { bodyObject, compact, epochSeconds, optionalBoolean, optionalInteger, optionalObject, optionalString, pageRequest, queryBoolean, queryString } from './aws-input.js';

const invalid = (message: string) => new PlatformError('REGISTRY_INVALID', message);

function required(body: Record<string, unknown>, field: string): string {
  const value = optionalString(body, field);
  if (value === undefined || value === '') throw invalid(`${field}: required`);
  return value;
}

function hookOf(body: Record<string, unknown>): PreProvisioningHookConfig | undefined {
  const hook = optionalObject(body, 'preProvisioningHook');
  if (!hook) return undefined;
  const targetArn = optionalString(hook, 'targetArn', 'preProvisioningHook.targetArn');
  if (!targetArn) throw invalid('preProvisioningHook.targetArn: required');
  return { targetArn, payloadVersion: optionalString(hook, 'payloadVersion', 'preProvisioningHook.payloadVersion') ?? '2020-04-01' };
}

function versionIdOf(request: AwsRequest): number {
  const text = request.params['versionId']!;
  if (!/^\d{1,9}$/.test(text)) throw invalid(`versionId: expected an integer, received ${JSON.stringify(text)}`);
  return Number(text);
}

function descriptionOf(body: Record<string, unknown>): string | undefined {
  const description = optionalString(body, 'description');
  if (description !== undefined && description.length > 500) throw invalid('description: at most 500 characters');
  return description;
}

function stringMap(body: Record<string, unknown>, field: string): Record<string, string> {
  const value = optionalObject(body, field) ?? {};
  for (const [k, v] of Object.entries(value)) if (typeof v !== 'string') throw invalid(`${field}.${k}: expected a string`);
  return value as Record<string, string>;
}

export function provisioningOperations(provisioning: Provisioning): AwsOperation[] {
  const describe = (t: TemplateRecord) =>
    compact({
      templateArn: provisioning.templateArn(t.templateName),
      templateName: t.templateName,
      description: t.description,
      creationDate: epochSeconds(t.createdAt),
      lastModifiedDate: epochSeconds(t.updatedAt),
      enabled: t.enabled,
      type: t.type,
    });
  return [
    {
      name: 'CreateProvisioningTemplate',
      method: 'POST',
      path: '/provisioning-templates',
      async handle(request) {
        const body = bodyObject(request);
        const type = optionalString(body, 'type') ?? 'FLEET_PROVISIONING';
        if (!(TEMPLATE_TYPES as readonly string[]).includes(type)) throw invalid(`type: expected one of ${TEMPLATE_TYPES.join(', ')}, received ${JSON.stringify(type)}`);
        const hook = hookOf(body);
        if (hook && type === 'JITP') throw invalid('preProvisioningHook: only FLEET_PROVISIONING templates have one');
        const description = descriptionOf(body);
        const t = await provisioning.createTemplate({
          templateName: required(body, 'templateName'),
          templateBody: required(body, 'templateBody'),
          provisioningRoleArn: required(body, 'provisioningRoleArn'),
          enabled: optionalBoolean(body, 'enabled') ?? false,
          type: type as TemplateType,
          ...(description !== undefined ? { description } : {}),
          ...(hook ? { preProvisioningHook: hook } : {}),
        });
        return { templateArn: provisioning.templateArn(t.templateName), templateName: t.templateName, defaultVersionId: t.defaultVersionId };
      },
    },
    {
      // A trusted user's claim (developer guide, "Provisioning by trusted user"): valid for five minutes, fleet provisioning topics only.
      name: 'CreateProvisioningClaim',
      method: 'POST',
      path: '/provisioning-templates/{templateName}/provisioning-claim',
      async handle(request) {
        return provisioning.createProvisioningClaim(request.params['templateName']!);
      },
    },
    {
      name: 'DescribeProvisioningTemplate',
      method: 'GET',
      path: '/provisioning-templates/{templateName}',
      async handle(request) {
        const t = provisioning.template(request.params['templateName']!);
        return compact({
          ...describe(t),
          defaultVersionId: t.defaultVersionId,
          templateBody: t.versions.find((v) => v.versionId === t.defaultVersionId)!.templateBody,
          provisioningRoleArn: t.provisioningRoleArn,
          preProvisioningHook: t.preProvisioningHook,
        });
      },
    },
    {
      name: 'ListProvisioningTemplates',
      method: 'GET',
      path: '/provisioning-templates',
      async handle(request) {
        const page = provisioning.templates(pageRequest(request));
        return compact({ templates: page.items.map(describe), nextToken: page.nextToken });
      },
    },
    {
      name: 'UpdateProvisioningTemplate',
      method: 'PATCH',
      path: '/provisioning-templates/{templateName}',
      async handle(request) {
        const body = bodyObject(request);
        const hook = hookOf(body);
        const remove = optionalBoolean(body, 'removePreProvisioningHook');
        if (hook && remove) throw invalid('preProvisioningHook and removePreProvisioningHook: give one or the other');
        const description = descriptionOf(body);
        const enabled = optionalBoolean(body, 'enabled');
        const defaultVersionId = optionalInteger(body, 'defaultVersionId');
        const roleArn = optionalString(body, 'provisioningRoleArn');
        await provisioning.updateTemplate({
          templateName: request.params['templateName']!,
          ...(description !== undefined ? { description } : {}),
          ...(enabled !== undefined ? { enabled } : {}),
          ...(defaultVersionId !== undefined ? { defaultVersionId } : {}),
          ...(roleArn !== undefined ? { provisioningRoleArn: roleArn } : {}),
          ...(hook ? { preProvisioningHook: hook } : {}),
          ...(remove ? { removePreProvisioningHook: true } : {}),
        });
        return {};
      },
    },
    {
      name: 'DeleteProvisioningTemplate',
      method: 'DELETE',
      path: '/provisioning-templates/{templateName}',
      async handle(request) {
        await provisioning.deleteTemplate(request.params['templateName']!);
        return {};
      },
    },
    {
      name: 'CreateProvisioningTemplateVersion',
      method: 'POST',
      path: '/provisioning-templates/{templateName}/versions',
      async handle(request) {
        const body = bodyObject(request);
        const { template, version } = await provisioning.createTemplateVersion(request.params['templateName']!, required(body, 'templateBody'), queryBoolean(request, 'setAsDefault') ?? false);
        return { templateArn: provisioning.templateArn(template.templateName), templateName: template.templateName, versionId: version.versionId, isDefaultVersion: template.defaultVersionId === version.versionId };
      },
    },
    {
      name: 'DescribeProvisioningTemplateVersion',
      method: 'GET',
      path: '/provisioning-templates/{templateName}/versions/{versionId}',
      async handle(request) {
        const { template, version } = provisioning.templateVersion(request.params['templateName']!, versionIdOf(request));
        return { versionId: version.versionId, creationDate: epochSeconds(version.createdAt), templateBody: version.templateBody, isDefaultVersion: template.defaultVersionId === version.versionId };
      },
    },
    {
      name: 'ListProvisioningTemplateVersions',
      method: 'GET',
      path: '/provisioning-templates/{templateName}/versions',
      async handle(request) {
        const template = provisioning.template(request.params['templateName']!);
        // At most 5 versions: one page always holds them all.
        return { versions: template.versions.map((v) => ({ versionId: v.versionId, creationDate: epochSeconds(v.createdAt), isDefaultVersion: v.versionId === template.defaultVersionId })) };
      },
    },
    {
      name: 'DeleteProvisioningTemplateVersion',
      method: 'DELETE',
      path: '/provisioning-templates/{templateName}/versions/{versionId}',
      async handle(request) {
        await provisioning.deleteTemplateVersion(request.params['templateName']!, versionIdOf(request));
        return {};
      },
    },
    {
      name: 'RegisterThing',
      method: 'POST',
      path: '/things',
      async handle(request) {
        const body = bodyObject(request);
        const out = await provisioning.provision(required(body, 'templateBody'), stringMap(body, 'parameters'));
        return compact({ certificatePem: out.certificatePem, resourceArns: out.resourceArns });
      },
    },
    {
      name: 'StartThingRegistrationTask',
      method: 'POST',
      path: '/thing-registration-tasks',
      async handle(request) {
        const body = bodyObject(request);
        const task = await provisioning.startTask({
          templateBody: required(body, 'templateBody'),
          inputFileBucket: required(body, 'inputFileBucket'),
          inputFileKey: required(body, 'inputFileKey'),
          roleArn: required(body, 'roleArn'),
        });
        return { taskId: task.taskId };
      },
    },
    {
      name: 'ListThingRegistrationTasks',
      method: 'GET',
      path: '/thing-registration-tasks',
      async handle(request) {
        const status = queryString(request, 'status');
        if (status !== undefined && !(TASK_STATUSES as readonly string[]).includes(status)) throw invalid(`status: expected one of ${TASK_STATUSES.join(', ')}, received ${JSON.stringify(status)}`);
        const page = provisioning.tasks(status !== undefined ? { status: status as TaskStatus } : {}, pageRequest(request));
        return compact({ taskIds: page.items.map((t) => t.taskId), nextToken: page.nextToken });
      },
    },
    {
      name: 'DescribeThingRegistrationTask',
      method: 'GET',
      path: '/thing-registration-tasks/{taskId}',
      async handle(request) {
        const t = provisioning.task(request.params['taskId']!);
        const cp = t.checkpoint;
        const percentageProgress = t.status === 'Completed' ? 100 : t.inputBytes ? Math.floor((cp.byte / t.inputBytes) * 100) : 0;
        return compact({
          taskId: t.taskId,
          creationDate: epochSeconds(t.createdAt),
          lastModifiedDate: epochSeconds(t.updatedAt),
          templateBody: t.templateBody,
          inputFileBucket: t.inputFileBucket,
          inputFileKey: t.inputFileKey,
          roleArn: t.roleArn,
          status: t.status,
          message: t.message,
          successCount: cp.successCount,
          failureCount: cp.failureCount,
          percentageProgress,
        });
      },
    },
    {
      name: 'StopThingRegistrationTask',
      method: 'PUT',
      path: '/thing-registration-tasks/{taskId}/cancel',
      async handle(request) {
        await provisioning.stopTask(request.params['taskId']!);
        return {};
      },
    },
    {
      name: 'ListThingRegistrationTaskReports',
      method: 'GET',
      path: '/thing-registration-tasks/{taskId}/reports',
      async handle(request) {
        const reportType = queryString(request, 'reportType');
        if (reportType !== 'RESULTS' && reportType !== 'ERRORS') throw invalid(`reportType: expected RESULTS or ERRORS, received ${JSON.stringify(reportType)}`);
        const links = provisioning.taskReports(request.params['taskId']!, reportType);
        const { nextToken, maxResults = 250 } = pageRequest(request);
        const from = nextToken !== undefined && /^\d+$/.test(nextToken) ? Number(nextToken) : 0;
        const page = links.slice(from, from + maxResults);
        return compact({ resourceLinks: page, reportType, nextToken: from + maxResults < links.length ? String(from + maxResults) : undefined });
      },
    },
    {
      // kiot's own: a batch of lines of `kiot provision bulk`, each applied once per (run, line)
      // however often the CLI sends it (a resumed run sends its unfinished batch again).
      name: 'KiotBulkRegisterThings',
      method: 'POST',
      path: '/kiot/provisioning/bulk/{runId}',
      access: 'admin',
      async handle(request) {
        const runId = request.params['runId']!;
        if (!/^[A-Za-z0-9-]{1,64}$/.test(runId)) throw invalid(`runId: expected 1-64 characters of [A-Za-z0-9-], received ${JSON.stringify(runId)}`);
        const body = bodyObject(request);
        if (optionalBoolean(body, 'finished')) {
          await provisioning.forgetRun(`bulk-${runId}`);
          return { results: [] };
        }
        const templateBody = required(body, 'templateBody');
        parseTemplate(templateBody); // a bad template fails the request, not each line
        const keepFrom = optionalInteger(body, 'keepFrom') ?? 0;
        const lines = body['lines'];
        if (!Array.isArray(lines) || lines.length > MAX_BULK_LINES) throw invalid(`lines: expected an array of at most ${MAX_BULK_LINES} {line, parameters}`);
        const devices = lines.map((entry: { line?: unknown; parameters?: unknown }, i) => {
          const line = entry?.line;
          if (typeof line !== 'number' || !Number.isInteger(line) || line < 0) throw invalid(`lines[${i}].line: expected a line number`);
          const parameters = entry.parameters;
          if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) throw invalid(`lines[${i}].parameters: expected a JSON object of template parameters`);
          return { line, parameters: parameters as Record<string, unknown>, options: { once: { id: `bulk-${runId}`, seq: line, keepFrom } } };
        });
        const results: Record<string, unknown>[] = [];
        // Registry commands run one at a time: each carries BULK_LINES_PER_WRITE devices.
        for (let at = 0; at < devices.length; at += BULK_LINES_PER_WRITE) {
          const chunk = devices.slice(at, at + BULK_LINES_PER_WRITE);
          const outcomes = await provisioning.provisionMany(templateBody, chunk);
          chunk.forEach(({ line }, i) => {
            const out = outcomes[i]!;
            results.push(out instanceof PlatformError ? { line, errorCode: out.code, errorMessage: out.message } : compact({ line, certificatePem: out.certificatePem, resourceArns: out.resourceArns }));
          });
        }
        return { results };
      },
    },
  ];
}

/** `kiot provision bulk` sends at most this many lines per request. */
export const MAX_BULK_LINES = 1000;
const BULK_LINES_PER_WRITE = 50;
