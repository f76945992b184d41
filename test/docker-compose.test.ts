import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { KNOWN_ENV_VARS, loadConfig } from '../core/index.js';

/**
 * No Docker engine runs where the tests run, so the compose file is checked by reading it: every
 * KIOT_* variable it sets is one kiot understands and validates, and every service kiot needs is
 * defined and reachable by the name kiot is given.
 */
interface Service {
  image?: string;
  build?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
}

const compose = parse(await readFile(new URL('../docker-compose.yml', import.meta.url), 'utf8')) as { services: Record<string, Service> };
const kiotServices = Object.entries(compose.services).filter(([, s]) => s.build === '.');

describe('docker-compose.yml', () => {
  test('defines Kafka in KRaft mode and at least one kiot service built from the Dockerfile', () => {
    const kafka = compose.services.kafka!;
    expect(kafka.image).toMatch(/^apache\/kafka:/);
    expect(kafka.environment!.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(kiotServices.length).toBeGreaterThan(0);
  });

  test.each(kiotServices)('service %s sets only KIOT_* variables kiot understands, with valid values', (_name, service) => {
    const env = service.environment ?? {};
    for (const name of Object.keys(env).filter((n) => n.startsWith('KIOT_'))) expect(KNOWN_ENV_VARS).toContain(name);
    const config = loadConfig({ env }); // throws CONFIG_INVALID on any bad value
    expect(config.kafkaBrokers.length).toBeGreaterThan(0);
  });

  test.each(kiotServices)('service %s reaches Kafka by a service name that exists and waits for it', (_name, service) => {
    const config = loadConfig({ env: service.environment ?? {} });
    for (const broker of config.kafkaBrokers) {
      const [host, port] = broker.split(':');
      expect(Object.keys(compose.services)).toContain(host);
      expect(compose.services[host!]!.environment!.KAFKA_ADVERTISED_LISTENERS).toContain(`${host}:${port}`);
      expect(service.depends_on?.[host!]?.condition).toBe('service_healthy');
    }
  });

  test('every role is run by some kiot service', () => {
    const roles = new Set(kiotServices.flatMap(([, s]) => loadConfig({ env: s.environment ?? {} }).roles));
    expect([...roles].sort()).toEqual([...loadConfig({ env: {} }).roles].sort());
  });

  test('the Dockerfile runs kiot up from the built dist/', async () => {
    const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "dist\/cli\/main\.js"\]/);
    expect(dockerfile).toMatch(/CMD \["up"\]/);
    const published = kiotServices.flatMap(([, s]) => s.ports ?? []);
    for (const port of published) expect(port).toMatch(/^127\.0\.0\.1:/); // published on loopback only
  });
});
