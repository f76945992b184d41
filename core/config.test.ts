import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { PlatformError } from './errors.js';
import { ROLES, SETTINGS, loadConfig } from './config.js';

const configError = (fn: () => unknown): PlatformError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    expect((err as PlatformError).code).toBe('CONFIG_INVALID');
    return err as PlatformError;
  }
  throw new Error('expected a CONFIG_INVALID error');
};

async function file(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-config-'));
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('loadConfig', () => {
  test('defaults follow DESIGN.md', () => {
    expect(loadConfig({ env: {} })).toMatchObject({
      dataDir: './data', host: '127.0.0.1', kafkaBrokers: [], roles: [...ROLES], logLevel: 'info',
      rules: { rulesDir: './rules' }, api: { httpPort: 8080 }, gateway: { mqttPort: 1883, mqttsPort: 8883, wsPort: 8083 },
    });
  });

  test('flags beat KIOT_* variables, which beat the config file', async () => {
    const path = await file('kiot.yaml', 'httpPort: 9000\nmqttPort: 9001\nwsPort: 9002\nkafka: [ "127.0.0.1:9092" ]\n');
    const config = loadConfig({ flags: { httpPort: '7000' }, env: { KIOT_MQTT_PORT: '7001' }, configFile: path });
    expect(config.api.httpPort).toBe(7000);
    expect(config.gateway.mqttPort).toBe(7001);
    expect(config.gateway.wsPort).toBe(9002);
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('KIOT_CONFIG names the config file and JSON works too', async () => {
    const path = await file('kiot.json', JSON.stringify({ roles: ['rules', 'gateway'], host: '0.0.0.0' }));
    const config = loadConfig({ env: { KIOT_CONFIG: path, KIOT_KAFKA_BROKERS: 'a:9092, b:9093' } });
    expect(config.roles).toEqual(['gateway', 'rules']);
    expect(config.host).toBe('0.0.0.0');
    expect(config.kafkaBrokers).toEqual(['a:9092', 'b:9093']);
  });

  test('port 0 means any free port', () => {
    expect(loadConfig({ flags: { httpPort: '0' }, env: {} }).api.httpPort).toBe(0);
  });

  test('an invalid value names where it came from and what was expected', async () => {
    expect(configError(() => loadConfig({ env: { KIOT_HTTP_PORT: 'eighty' } })).message).toBe(
      'KIOT_HTTP_PORT: expected a port number 0-65535 (0 = any free port), received "eighty"',
    );
    expect(configError(() => loadConfig({ flags: { mqttPort: '70000' }, env: {} })).message).toMatch(/^--mqtt-port: expected a port number/);
    expect(configError(() => loadConfig({ flags: { roles: 'rules,teleport' }, env: {} })).message).toMatch(/^--roles: expected roles: all or some of .*received "teleport"/);
    expect(configError(() => loadConfig({ flags: { kafka: 'localhost' }, env: {} })).message).toMatch(/^--kafka: expected host:port/);
    const path = await file('bad.yaml', 'httpPort: [1, 2]\n');
    expect(configError(() => loadConfig({ configFile: path, env: {} })).message).toBe(`${path}: httpPort: expected a port number 0-65535 (0 = any free port), received [1,2]`);
  });

  test('unknown settings are refused, in the file and in KIOT_* variables', async () => {
    const path = await file('kiot.yaml', 'httpPrt: 80\n');
    expect(configError(() => loadConfig({ configFile: path, env: {} })).message).toMatch(/httpPrt: not a kiot setting/);
    expect(configError(() => loadConfig({ env: { KIOT_HTTP_PRT: '80' } })).message).toMatch(/^KIOT_HTTP_PRT: not a kiot setting/);
  });

  test('a config file that does not parse reports file, line and column', async () => {
    const path = await file('kiot.yaml', 'httpPort: 80\n  bad: [\n');
    expect(configError(() => loadConfig({ configFile: path, env: {} })).message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: not valid YAML`));
    expect(configError(() => loadConfig({ configFile: join(tmpdir(), 'missing-kiot.yaml'), env: {} })).message).toMatch(/cannot read the config file \(ENOENT\)/);
    const txt = await file('kiot.txt', 'httpPort: 80\n');
    expect(configError(() => loadConfig({ configFile: txt, env: {} })).message).toBe(`${txt}: a config file is JSON (.json) or YAML (.yaml, .yml); its name says neither`);
  });
});

describe('settings table', () => {
  test('each setting fills a field of its group, and a group repeats the shared settings it reads', async () => {
    const config = loadConfig({ env: {} });
    for (const s of SETTINGS) {
      if (s.group === 'gateway' || s.group === 'rules' || s.group === 'api') expect(Object.keys(config[s.group]), s.key).toContain(s.key);
    }
    for (const group of [config.gateway, config.rules, config.api]) expect(Object.isFrozen(group)).toBe(true);
    const path = await file('kiot.yaml', 'host: 0.0.0.0\naccountId: "123456789012"\nregion: eu-west-1\n');
    const shared = loadConfig({ configFile: path, env: { KIOT_DATA_DIR: '/var/kiot' } });
    expect(shared.gateway.host).toBe('0.0.0.0');
    expect(shared.rules.accountId).toBe('123456789012');
    expect(shared.api).toMatchObject({ dataDir: '/var/kiot', region: 'eu-west-1', accountId: '123456789012' });
  });

  test('every flag reaches its key: commander names the option after the flag, camel-cased', () => {
    for (const s of SETTINGS) {
      const name = s.flag.split(' ')[0]!.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      expect(name, s.flag).toBe(s.key);
      expect(s.env, s.flag).toMatch(/^KIOT_[A-Z0-9_]+$/);
    }
  });
});
