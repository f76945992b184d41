/**
 * The API's stores on the state-store base (topic rules on `iot.rules`, access keys on
 * `iot.access-keys`), over a real EmbeddedLog and the official `@aws-sdk/client-iot`: a data
 * dir written before the base existed (plain JSON records) still opens with its rules and keys,
 * and concurrent CreateTopicRule calls for one name, through two API processes, create it once.
 */
import { CreateTopicRuleCommand, DisableTopicRuleCommand, GetTopicRuleCommand, IoTClient, IoTServiceException, ListTopicRulesCommand } from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddedLog, TOPICS, loadConfig, silentLogger, topicSpec } from '../core/index.js';
import { createRulesService } from '../rules/worker/index.js';
import { parseCredentialsFile } from './access-keys.js';
import { createApiService, type Api } from './index.js';
import { createHttpServer } from './server.js';

const ACCOUNT = '123456789012';
const SQL = "SELECT temperature FROM 'factory/+/telemetry' WHERE temperature > 80";
const at = (file: string) => ({ file, line: 1, column: 1 });

/** A rule as the API wrote it before the state store: the record as plain JSON, no frame. */
const OLD_API_RULE = {
  name: 'old_api',
  description: 'hot',
  sql: SQL,
  sqlVersion: '2016-03-23',
  enabled: true,
  actions: [{ type: 'republish', params: { topic: 'alerts/${topic(2)}', qos: 1 }, source: at('old_api.rule.json'), paramSources: {} }],
  source: at('api:old_api'),
  sqlSource: at('api:old_api'),
  origin: 'api',
  createdAt: 1_000,
  topicPattern: 'factory/+/telemetry',
  topicRulePayload: { sql: SQL, description: 'hot', actions: [{ republish: { topic: 'alerts/${topic(2)}', roleArn: 'arn:aws:iam::123456789012:role/x', qos: 1 } }] },
};

/** Records written to `iot.rules` by other tools (the rules worker's documented shapes), and garbage. */
const OLD_TABLE_RULES: Record<string, unknown> = {
  old_api: OLD_API_RULE,
  hand_model: { sql: "SELECT * FROM 'm/#'", actions: [{ type: 'republish', params: { topic: 'from-model' } }] },
  hand_payload: { sql: "SELECT * FROM 'p/#'", ruleDisabled: true, actions: [{ republish: { topic: 'from-payload' } }] },
  broken: { sql: 42 },
};

/** Access keys as the code before the state store wrote them (the restricted one after policyDocument came). */
const OLD_ADMIN_KEY = { accessKeyId: 'AKIAOLDADMINKEY00000', secretAccessKey: 'old-admin-secret-0000000000000000000000', status: 'Active', createdAt: 1_000, description: 'created on first start' };
const OLD_RESTRICTED_KEY = {
  accessKeyId: 'AKIAOLDLIMITEDKEY000',
  secretAccessKey: 'old-limited-secret-000000000000000000000',
  status: 'Active',
  createdAt: 2_000,
  policyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: '*' }] }),
};

let dir: string | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function openLog(): Promise<EmbeddedLog> {
  dir ??= await mkdtemp(join(tmpdir(), 'kiot-api-stores-'));
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  cleanups.push(() => log.close());
  return log;
}

/** An API (one process's worth) on `log` behind its own HTTP server, and an SDK client signed with the data dir's credentials. */
async function serveApi(log: EmbeddedLog): Promise<{ api: Api; client: IoTClient }> {
  const api = await createApiService({ dataDir: dir!, region: undefined, accountId: ACCOUNT }, { log, logger: silentLogger(), announce: () => undefined }).start();
  cleanups.push(() => api.stop());
  const http = createHttpServer({ logger: silentLogger(), metrics: async () => '', health: () => ({ status: 'ok' }), routes: api.routes });
  const endpoint = `http://127.0.0.1:${await http.listen('127.0.0.1', 0)}`;
  cleanups.push(() => http.close());
  const client = new IoTClient({ endpoint, region: 'us-east-1', credentials: fromIni({ filepath: join(dir!, 'credentials'), profile: 'default' }), maxAttempts: 1 });
  cleanups.push(async () => client.destroy());
  return { api, client };
}

/**
 * Resolves once `check` holds. The rules service offers no change event, so this re-checks
 * often; it fails with `what` rather than hanging.
 */
function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = (): void => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe('a data dir written before the state stores', () => {
  test('opens with its topic rules and access keys; the API and the rules workers read them', async () => {
    const first = await openLog();
    await first.ensureTopic(topicSpec(TOPICS.rules));
    await first.append(TOPICS.rules, Object.entries(OLD_TABLE_RULES).map(([key, value]) => ({ key, value: Buffer.from(JSON.stringify(value)) })));
    await first.ensureTopic(topicSpec(TOPICS.accessKeys));
    await first.append(TOPICS.accessKeys, [OLD_ADMIN_KEY, OLD_RESTRICTED_KEY].map((k) => ({ key: k.accessKeyId, value: Buffer.from(JSON.stringify(k)) })));
    await first.close();
    cleanups.splice(0);

    const log = await openLog();
    const { api, client } = await serveApi(log);
    expect(api.accessKeys.get(OLD_ADMIN_KEY.accessKeyId)).toEqual(OLD_ADMIN_KEY);
    expect(api.accessKeys.get(OLD_RESTRICTED_KEY.accessKeyId)).toEqual(OLD_RESTRICTED_KEY);
    // First start with this data dir: the credentials file gets the old administrator key, not a new one.
    expect(parseCredentialsFile(await readFile(join(dir!, 'credentials'), 'utf8')).get('default')?.get('aws_access_key_id')).toBe(OLD_ADMIN_KEY.accessKeyId);
    expect(api.accessKeys.list().map((k) => k.accessKeyId)).toEqual([OLD_ADMIN_KEY.accessKeyId, OLD_RESTRICTED_KEY.accessKeyId]);

    // Requests signed with the old key are verified; the old API rule reads as it was written.
    const got = await client.send(new GetTopicRuleCommand({ ruleName: 'old_api' }));
    expect(got.rule).toMatchObject({ ruleName: 'old_api', sql: SQL, description: 'hot', ruleDisabled: false, actions: OLD_API_RULE.topicRulePayload.actions });
    expect(got.rule?.createdAt?.getTime()).toBe(1_000);
    // Rules other tools wrote run, but are not the API's to list.
    expect((await client.send(new ListTopicRulesCommand({}))).rules?.map((r) => r.ruleName)).toEqual(['old_api']);

    const rulesService = createRulesService(loadConfig({ flags: { dataDir: dir! }, env: {} }).rules, { log, logger: silentLogger(), options: { rulesDir: null } });
    cleanups.push(() => rulesService.stop());
    await rulesService.start(); // the table has caught up when this resolves
    const states = () => Object.fromEntries(rulesService.list().rules.map((r) => [r.name, r.state]));
    expect(states()).toEqual({ old_api: 'enabled', hand_model: 'enabled', hand_payload: 'disabled' });

    // A change through the API is written framed, beside the old records, and reaches the workers.
    await client.send(new DisableTopicRuleCommand({ ruleName: 'old_api' }));
    expect(api.topicRules.get('old_api')).toMatchObject({ enabled: false, createdAt: 1_000 });
    await until(() => states()['old_api'] === 'disabled', 'the workers to see old_api disabled');
  }, 30_000);
});

describe('concurrent CreateTopicRule', () => {
  test('of one name, through two API processes on one log: exactly one succeeds, and both see its rule', async () => {
    const log = await openLog();
    const a = await serveApi(log);
    const b = await serveApi(log);
    const payloadOf = (i: number) => ({ sql: `SELECT ${i} AS attempt FROM 'race/#'`, actions: [{ republish: { topic: 'won', roleArn: 'arn:aws:iam::123456789012:role/x' } }] });
    const attempts = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).client.send(new CreateTopicRuleCommand({ ruleName: 'race', topicRulePayload: payloadOf(i) })));
    const outcomes = await Promise.allSettled(attempts);

    const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(o.reason instanceof IoTServiceException && o.reason.name).toBe('ResourceAlreadyExistsException');
    }
    const winnerSql = payloadOf(won[0]!).sql;
    expect((await a.client.send(new GetTopicRuleCommand({ ruleName: 'race' }))).rule?.sql).toBe(winnerSql);
    expect((await b.client.send(new GetTopicRuleCommand({ ruleName: 'race' }))).rule?.sql).toBe(winnerSql);
    expect(a.api.topicRules.list().map((r) => r.name)).toEqual(['race']);
  }, 30_000);
});
