import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { EmbeddedLog, loadConfig, silentLogger, TOPICS, type Log } from '../../core/index.js';
import { createRulesService, type RulesService } from './index.js';
import { envelopesOf, publish, readN, readUntil, waitFor } from './test-helpers.js';

let dir: string;
let log: Log;
let services: RulesService[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-rules-svc-'));
  log = await EmbeddedLog.open({ dataDir: join(dir, 'data'), logger: silentLogger() });
  services = [];
});

afterEach(async () => {
  for (const s of services) await s.stop();
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(rulesText: Record<string, string>, options: Parameters<typeof createRulesService>[1]['options'] = {}, flags: Record<string, string> = {}): Promise<RulesService> {
  const rulesDir = join(dir, 'rules');
  await import('node:fs/promises').then((fs) => fs.mkdir(rulesDir, { recursive: true }));
  for (const [name, text] of Object.entries(rulesText)) await writeFile(join(rulesDir, name), text);
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), rulesDir, ...flags }, env: {} });
  const service = createRulesService(config.rules, { log, logger: silentLogger(), options: { pollIntervalMs: 100, retry: { retries: 2, initialBackoffMs: 20, maxBackoffMs: 50 }, ...options } });
  services.push(service);
  await service.start();
  return service;
}

describe('rules service on the embedded log', () => {
  test('ingress -> filter+projection rule -> republish -> egress, in order, with templates', async () => {
    const service = await start({
      'hot.sql': `CREATE RULE hot AS SELECT temperature AS t, topic(2) AS site FROM 'factory/+/telemetry' WHERE temperature > 80
        DO republish(topic = 'alerts/\${topic(2)}', qos = 1);`,
    });
    await publish(log, [
      { topic: 'factory/a/telemetry', payload: Buffer.from('{"temperature": 90}'), clientId: 'd1' },
      { topic: 'factory/a/telemetry', payload: Buffer.from('{"temperature": 20}'), clientId: 'd1' },
      { topic: 'factory/b/telemetry', payload: Buffer.from('{"temperature": 85}'), clientId: 'd1' },
      { topic: 'other/topic', payload: Buffer.from('{"temperature": 99}'), clientId: 'd1' },
    ]);
    const out = envelopesOf(await readN(log, TOPICS.egress, 2));
    expect(out.map((e) => [e.topic, e.qos, JSON.parse(e.payload.toString())])).toEqual([
      ['alerts/a', 1, { t: 90, site: 'a' }],
      ['alerts/b', 1, { t: 85, site: 'b' }],
    ]);
    await waitFor(() => service.list().rules[0]?.counters.actionsOk === 2, 5_000, 'counters');
    expect(service.list().rules[0]).toMatchObject({ name: 'hot', state: 'enabled', topicFilter: 'factory/+/telemetry', counters: { matched: 2, actionsOk: 2, actionsFailed: 0, errors: 0 } });
  });

  test('accountid() in the SQL and in templates is --account-id', async () => {
    await start({ 'acct.sql': `CREATE RULE acct AS SELECT accountid() AS a FROM 'acct/in' DO republish(topic = 'acct/\${accountid()}');` }, {}, { accountId: '123456789012' });
    await publish(log, [{ topic: 'acct/in', payload: Buffer.from('{}'), clientId: 'd1' }]);
    const [out] = envelopesOf(await readN(log, TOPICS.egress, 1));
    expect([out!.topic, JSON.parse(out!.payload.toString())]).toEqual(['acct/123456789012', { a: '123456789012' }]);
  });

  test('get_mqtt_property() and get_user_properties() read the message MQTT 5 properties', async () => {
    await start({
      'props.sql': `CREATE RULE props AS SELECT get_mqtt_property('content_type') AS ct, get_mqtt_property('format_indicator') AS fi,
        get_mqtt_property('correlation_data') AS cd, get_user_properties('k') AS k, get_user_properties() AS all FROM 'props/in' DO republish(topic = 'props/out');`,
    });
    await publish(log, [
      {
        topic: 'props/in',
        payload: Buffer.from('{}'),
        clientId: 'd1',
        contentType: 'application/json',
        payloadFormatIndicator: 1,
        correlationData: Buffer.from('cid'),
        userProperties: [
          { name: 'k', value: 'v1' },
          { name: 'o', value: 'ov' },
          { name: 'k', value: 'v2' },
        ],
      },
    ]);
    const [out] = envelopesOf(await readN(log, TOPICS.egress, 1));
    expect(JSON.parse(out!.payload.toString())).toEqual({ ct: 'application/json', fi: 'UTF8_DATA', cd: Buffer.from('cid').toString('base64'), k: ['v1', 'v2'], all: [{ k: 'v1' }, { o: 'ov' }, { k: 'v2' }] });
  });

  test('$$ republishes to a reserved topic; kafka writes to the embedded log', async () => {
    await start({
      'r.sql': `CREATE RULE shadowing AS SELECT state FROM 'cmd/+' DO republish(topic = '$$aws/things/\${topic(2)}/shadow/update');
        CREATE RULE tokafka AS SELECT * FROM 'cmd/+' DO kafka(topic = 'out.kafka', key = '\${clientid()}', headers = [{key: 'src', value: '\${topic()}'}]);`,
    });
    await publish(log, [{ topic: 'cmd/lamp', payload: Buffer.from('{"state":{"desired":{"on":true}}}'), clientId: 'c7' }]);
    const [shadow] = envelopesOf(await readN(log, TOPICS.egress, 1));
    expect(shadow!.topic).toBe('$aws/things/lamp/shadow/update');
    expect(JSON.parse(shadow!.payload.toString())).toEqual({ state: { desired: { on: true } } });
    const [k] = await readN(log, 'out.kafka', 1);
    expect(k!.key!.toString()).toBe('c7');
    expect(k!.headers['src']!.toString()).toBe('cmd/lamp');
    expect(JSON.parse(k!.value!.toString())).toEqual({ state: { desired: { on: true } } });
  });

  test('a rule that does not compile is reported with file:line:column and the others run', async () => {
    const service = await start({
      'a.sql': `CREATE RULE good AS SELECT * FROM 'x/#' DO republish(topic = 'y');\nCREATE RULE bad AS SELECT nope(a) FROM 'x/#' DO republish(topic = 'z');`,
      'b.sql': `CREATE RULE broken AS SELECT FROM`,
    });
    const listing = service.list();
    expect(listing.rules.map((r) => [r.name, r.state])).toEqual([
      ['bad', 'failed'],
      ['good', 'enabled'],
    ]);
    expect(listing.rules[0]!.problem).toMatch(/a\.sql:2:\d+: unknown function nope\(\)/);
    expect(listing.problems[0]).toMatch(/b\.sql:1:\d+: /);
    await publish(log, [{ topic: 'x/1', payload: Buffer.from('{}') }]);
    expect(envelopesOf(await readN(log, TOPICS.egress, 1))[0]!.topic).toBe('y');
  });

  test('editing a rule file applies without a restart', async () => {
    const service = await start({ 'e.sql': `CREATE RULE e AS SELECT 1 AS v FROM 'in' DO republish(topic = 'first');` });
    await publish(log, [{ topic: 'in', payload: Buffer.from('{}') }]);
    await readN(log, TOPICS.egress, 1);
    await writeFile(join(dir, 'rules', 'e.sql'), `CREATE RULE e AS SELECT 2 AS v FROM 'in' DO republish(topic = 'second');`);
    await waitFor(() => service.list().rules[0]?.sql.includes('2 AS v') === true, 5_000, 'the edited rule');
    await publish(log, [{ topic: 'in', payload: Buffer.from('{}') }]);
    const out = envelopesOf(await readN(log, TOPICS.egress, 2));
    expect(out.map((e) => [e.topic, e.payload.toString()])).toEqual([
      ['first', '{"v":1}'],
      ['second', '{"v":2}'],
    ]);
  });

  test('rules from the iot.rules table run, and a table rule replaces a file rule of the same name', async () => {
    const service = await start({ 't.sql': `CREATE RULE shared AS SELECT 'file' AS src FROM 'tb' DO republish(topic = 'from-file');` });
    const table = await log.openTable(TOPICS.rules);
    await table.set('shared', JSON.stringify({ sql: "SELECT 'table' AS src FROM 'tb'", actions: [{ type: 'republish', params: { topic: 'from-table' } }] }));
    await table.set('aws', JSON.stringify({ sql: "SELECT * FROM 'tb'", ruleDisabled: false, actions: [{ republish: { topic: 'from-aws-payload' } }] }));
    await table.close();
    await waitFor(() => service.list().rules.filter((r) => r.origin === 'iot.rules').length === 2, 5_000, 'table rules');
    await publish(log, [{ topic: 'tb', payload: Buffer.from('{"a":1}') }]);
    const topics = envelopesOf(await readN(log, TOPICS.egress, 2)).map((e) => e.topic).sort();
    expect(topics).toEqual(['from-aws-payload', 'from-table']);
  });

  test('malformed payloads never crash the worker and go where the SQL sends them', async () => {
    const service = await start({
      'm.sql': `CREATE RULE all AS SELECT * FROM 'm/#' DO republish(topic = 'all');
        CREATE RULE field AS SELECT a.b AS v FROM 'm/#' WHERE a.b > 0 DO republish(topic = 'field');`,
    });
    let deep = '1';
    for (let i = 0; i < 5_000; i++) deep = `{"a":${deep}}`;
    const big = Buffer.from(JSON.stringify({ a: { b: 1 }, pad: 'x'.repeat(128 * 1024) }));
    await publish(log, [
      { topic: 'm/text', clientId: 'dev', payload: Buffer.from('not json at all') },
      { topic: 'm/utf8', clientId: 'dev', payload: Buffer.from([0xff, 0xfe, 0x7b, 0x80]) },
      { topic: 'm/big', clientId: 'dev', payload: big },
      { topic: 'm/deep', clientId: 'dev', payload: Buffer.from(deep) },
      { topic: 'm/ok', clientId: 'dev', payload: Buffer.from('{"a":{"b":2}}') },
    ]);
    // Also a record that is not an envelope at all: it goes to the dead-letter topic.
    await log.append(TOPICS.ingress, [{ key: 'x', value: 'garbage' }]);
    const all = envelopesOf(await readN(log, TOPICS.egress, 6));
    const byTopic = (t: string) => all.filter((e) => e.topic === t);
    // SELECT * of a binary payload passes the bytes through (AWS: binary payloads with SELECT *).
    expect(byTopic('all').map((e) => e.payload.length)).toEqual([15, 4, big.length, 13]);
    expect(byTopic('all')[1]!.payload).toEqual(Buffer.from([0xff, 0xfe, 0x7b, 0x80]));
    expect(byTopic('field').map((e) => e.payload.toString())).toEqual(['{"v":1}', '{"v":2}']);
    // The deep payload parses but cannot be written back as JSON: the action fails and the
    // message goes to the dead-letter topic (the rule has no error action) with its bytes.
    const dead = (await readN(log, TOPICS.deadLetter, 2)).map((r) => JSON.parse(r.value!.toString()));
    const deepFailure = dead.find((m) => m.topic === 'm/deep');
    expect(deepFailure).toMatchObject({ ruleName: 'all', failures: [{ failedAction: 'RepublishAction', failedResource: 'all', errorMessage: expect.stringContaining('nested too deeply') }] });
    expect(Buffer.from(deepFailure.base64OriginalPayload, 'base64').toString()).toBe(deep);
    const garbage = dead.find((m) => m.failures[0].failedAction === 'EnvelopeDecode');
    expect(Buffer.from(garbage.base64OriginalPayload, 'base64').toString()).toBe('garbage');
    expect(service.list().worker.processed).toBe(6);
  });

  test('two workers share the partitions; stopping one mid-stream loses nothing', async () => {
    const rules = { 's.sql': `CREATE RULE s AS SELECT seq FROM 'sh/+' DO republish(topic = 'shared-out');` };
    const a = await start(rules);
    const b = await start(rules);
    const total = 600;
    await publish(log, Array.from({ length: total / 2 }, (_, seq) => ({ topic: `sh/${seq % 12}`, clientId: `c${seq % 12}`, payload: Buffer.from(JSON.stringify({ seq })) })));
    await waitFor(() => a.list().worker.processed > 0 && b.list().worker.processed > 0, 10_000, 'both workers to take messages');
    await a.stop();
    await publish(log, Array.from({ length: total / 2 }, (_, i) => ({ topic: `sh/${i % 12}`, clientId: `c${i % 12}`, payload: Buffer.from(JSON.stringify({ seq: total / 2 + i })) })));
    const seqs = (records: Parameters<typeof envelopesOf>[0]) => new Set(envelopesOf(records).map((e) => (JSON.parse(e.payload.toString()) as { seq: number }).seq));
    const out = await readUntil(log, TOPICS.egress, (r) => seqs(r).size === total);
    expect(seqs(out).size).toBe(total);
  });
});
