import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { runKiot } from '../cli/testing.js';
import { KNOWN_ENV_VARS, loadConfig, type Config } from '../core/index.js';
import { isLoopbackHost } from '../ingest/index.js';

/**
 * No Docker engine runs where the tests run, so the compose file is checked by reading it: every
 * KIOT_* variable it sets is one kiot understands and validates, every service kiot needs is
 * defined and reachable by the name kiot is given, every service has a health check that fits
 * what it serves and a restart policy, the rules dir is the example folder (whose rule files
 * `kiot rules check` accepts), and Prometheus scrapes kiot's /metrics.
 */
interface Service {
  image?: string;
  build?: string;
  restart?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number };
}

const ROOT = new URL('../', import.meta.url);
const compose = parse(await readFile(new URL('docker-compose.yml', ROOT), 'utf8')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const kiotServices = Object.entries(compose.services).filter(([, s]) => s.build === '.');
const configOf = (service: Service): Config => loadConfig({ env: service.environment ?? {} });
/** kiot's `--http-tls auto`: TLS beyond loopback. */
const httpTlsOn = (config: Config): boolean => config.api.httpTls === 'on' || (config.api.httpTls === 'auto' && !isLoopbackHost(config.host));

/** `source:target[:mode]` volume entries, split. */
function mounts(service: Service): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).map((v) => {
    const [source, target, mode] = v.split(':');
    return { source: source!, target: target!, readOnly: mode === 'ro' };
  });
}

/** The service's named volume mounted at its data dir (where kiot writes credentials and ca.pem). */
function dataVolume(service: Service): string | undefined {
  const dataDir = configOf(service).dataDir;
  return mounts(service).find((m) => m.target === dataDir && !m.source.startsWith('.'))?.source;
}

const EXAMPLE_RULES = './examples/rules';
const exampleRulesDir = fileURLToPath(new URL('examples/rules/', ROOT));

describe('docker-compose.yml', () => {
  test('defines Kafka in KRaft mode and at least one kiot service built from the Dockerfile', () => {
    const kafka = compose.services.kafka!;
    expect(kafka.image).toMatch(/^apache\/kafka:/);
    expect(kafka.environment!.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(kafka.environment!.KAFKA_CONTROLLER_QUORUM_VOTERS).toBeDefined();
    expect(kiotServices.length).toBeGreaterThan(0);
  });

  test.each(kiotServices)('service %s sets only KIOT_* variables kiot understands, with valid values', (_name, service) => {
    const env = service.environment ?? {};
    for (const name of Object.keys(env).filter((n) => n.startsWith('KIOT_'))) expect(KNOWN_ENV_VARS).toContain(name);
    const config = loadConfig({ env }); // throws CONFIG_INVALID on any bad value
    expect(config.kafkaBrokers.length).toBeGreaterThan(0);
  });

  test.each(kiotServices)('service %s reaches Kafka by a service name that exists and waits for it', (_name, service) => {
    const config = configOf(service);
    for (const broker of config.kafkaBrokers) {
      const [host, port] = broker.split(':');
      expect(Object.keys(compose.services)).toContain(host);
      expect(compose.services[host!]!.environment!.KAFKA_ADVERTISED_LISTENERS).toContain(`${host}:${port}`);
      expect(service.depends_on?.[host!]?.condition).toBe('service_healthy');
    }
  });

  test.each(kiotServices)('service %s can start: its HTTP listener beyond loopback has TLS from the kiot CA in the process, or TLS off', (_name, service) => {
    // `kiot up` refuses --http-tls on/auto beyond loopback without a certificate file or the api/registry role (cli/up.ts).
    const config = configOf(service);
    if (!httpTlsOn(config) || config.api.httpTlsCert) return;
    expect(config.roles.some((r) => r === 'api' || r === 'registry')).toBe(true);
  });

  test('every role is run by some kiot service', () => {
    const roles = new Set(kiotServices.flatMap(([, s]) => configOf(s).roles));
    expect([...roles].sort()).toEqual([...loadConfig({ env: {} }).roles].sort());
  });

  test.each(Object.entries(compose.services))('service %s restarts unless stopped and has a health check', (_name, service) => {
    expect(service.restart).toBe('unless-stopped');
    expect(service.healthcheck?.test?.[0]).toMatch(/^CMD(-SHELL)?$/);
    expect(service.healthcheck!.test.length).toBeGreaterThan(1);
    expect(service.healthcheck!.retries).toBeGreaterThan(0);
  });

  test.each(kiotServices)('service %s is checked on GET /health of its HTTP port, over TLS with the kiot CA when TLS is on', (_name, service) => {
    const config = configOf(service);
    const check = service.healthcheck!.test.slice(1).join(' ');
    const tls = httpTlsOn(config);
    // loopback inside the container: the kiot-CA certificate names 127.0.0.1 (not the wildcard bind host)
    expect(check).toContain(`fetch('${tls ? 'https' : 'http'}://127.0.0.1:${config.api.httpPort}/health')`);
    expect(check).toMatch(/process\.exit\(r\.ok \? 0 : 1\)/);
    if (tls && !config.api.httpTlsCert) {
      expect(check).toContain(`NODE_EXTRA_CA_CERTS=${config.dataDir}/ca.pem`);
      expect(dataVolume(service)).toBeDefined(); // ca.pem is kept in a volume, so it is there before the first check after a restart
    }
  });

  test.each(kiotServices)('service %s mounts the example rules folder (not the TypeScript ./rules) read-only as its rules dir', (_name, service) => {
    const config = configOf(service);
    const rules = mounts(service).find((m) => m.target === config.rules.rulesDir);
    expect(rules).toEqual({ source: EXAMPLE_RULES, target: config.rules.rulesDir, readOnly: true });
    expect(mounts(service).map((m) => m.source)).not.toContain('./rules');
  });

  test('the services running the rules role read the example rules', () => {
    const withRules = kiotServices.filter(([, s]) => configOf(s).roles.includes('rules'));
    expect(withRules.length).toBeGreaterThan(0);
  });

  test('every published port is on loopback', () => {
    for (const [, service] of Object.entries(compose.services)) {
      for (const port of service.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
    }
  });

  test('the kiot service publishes its HTTP API, mqtts and device HTTPS ports (the quick start uses them)', () => {
    const kiot = compose.services.kiot!;
    const config = configOf(kiot);
    for (const port of [config.api.httpPort, config.gateway.mqttsPort, config.gateway.httpsPort]) {
      expect(kiot.ports).toContain(`127.0.0.1:${port}:${port}`);
    }
    expect(dataVolume(kiot)).toBeDefined(); // credentials and ca.pem survive a restart, and `docker compose cp` finds them
    expect(Object.keys(compose.volumes ?? {})).toContain(dataVolume(kiot));
  });
});

describe('Prometheus in docker-compose.yml', () => {
  const found = Object.entries(compose.services).find(([, s]) => s.image?.startsWith('prom/prometheus:'));

  test('runs, after kiot is healthy, with a config file from the repository', () => {
    expect(found).toBeDefined();
    const [, prometheus] = found!;
    const config = mounts(prometheus).find((m) => m.target === '/etc/prometheus/prometheus.yml');
    expect(config?.source).toMatch(/^\.\/examples\/compose\//);
    expect(existsSync(new URL(config!.source, ROOT))).toBe(true);
    expect(prometheus.depends_on?.kiot?.condition).toBe('service_healthy');
  });

  test('scrapes /metrics of every kiot service on its HTTP port, over TLS with the kiot CA from the data volume when TLS is on', async () => {
    const [, prometheus] = found!;
    const file = mounts(prometheus).find((m) => m.target === '/etc/prometheus/prometheus.yml')!.source;
    interface ScrapeConfig {
      job_name: string;
      scheme?: string;
      metrics_path?: string;
      tls_config?: { ca_file?: string; server_name?: string };
      static_configs?: { targets: string[] }[];
      dns_sd_configs?: { names: string[]; type?: string; port: number }[];
    }
    const scrape = (parse(await readFile(new URL(file, ROOT), 'utf8')) as { scrape_configs: ScrapeConfig[] }).scrape_configs;
    for (const [name, service] of kiotServices) {
      const config = configOf(service);
      const job = scrape.find(
        (j) =>
          (j.static_configs ?? []).some((s) => s.targets.includes(`${name}:${config.api.httpPort}`)) ||
          (j.dns_sd_configs ?? []).some((d) => d.names.includes(name) && d.port === config.api.httpPort),
      );
      expect(job, `a scrape job for ${name}:${config.api.httpPort}`).toBeDefined();
      expect(job!.metrics_path ?? '/metrics').toBe('/metrics');
      expect(config.api.metricsAuth).toBe(false); // Prometheus does not sign its requests
      const tls = httpTlsOn(config);
      expect(job!.scheme ?? 'http').toBe(tls ? 'https' : 'http');
      if (tls) {
        // The CA file is the kiot service's ca.pem, read through the same named volume.
        const volume = dataVolume(service)!;
        const mount = mounts(prometheus).find((m) => m.source === volume);
        expect(mount?.readOnly).toBe(true);
        expect(job!.tls_config?.ca_file).toBe(`${mount!.target}/ca.pem`);
        // kiot-CA certificates name localhost, 127.0.0.1 and ::1, never the compose service name.
        expect(['localhost', '127.0.0.1']).toContain(job!.tls_config?.server_name);
      }
    }
  });
});

describe('examples/rules', () => {
  test('holds rule files that use only actions needing nothing outside kiot', async () => {
    const files = (await readdir(exampleRulesDir)).filter((f) => f.endsWith('.sql') || f.endsWith('.rule.json'));
    expect(files.length).toBeGreaterThan(0);
    const outside = /\b(dynamodb|dynamodbv2|s3|lambda|http|kafka|elasticsearch|opensearch|cloudwatch_metric|cloudwatchMetric|cloudwatch)\s*[(":]/;
    for (const file of files) expect(await readFile(`${exampleRulesDir}${file}`, 'utf8'), file).not.toMatch(outside);
  });

  test(
    'every file compiles with `kiot rules check` (the CLI in a child process)',
    async () => {
      const files = (await readdir(exampleRulesDir)).filter((f) => f.endsWith('.sql') || f.endsWith('.rule.json'));
      const kiot = runKiot(['rules', 'check', exampleRulesDir]);
      const code = await kiot.exited;
      expect(kiot.stdout.join('\n')).toBe(''); // problems are printed on stdout, one per line
      expect(code, kiot.stderr()).toBe(0);
      expect(kiot.stderr()).toMatch(new RegExp(`checked \\d+ rules? in ${files.length} files?: no problems`));
    },
    60_000,
  );
});
