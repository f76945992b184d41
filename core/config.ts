import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PlatformError, invalidConfig } from './errors.js';
import type { LogLevel } from './logger.js';

/** The roles a process can run; `all` (the default) runs every one. Later issues fill them in. */
export const ROLES = ['api', 'gateway', 'bridge', 'rules', 'shadow', 'registry', 'jobs'] as const;
export type Role = (typeof ROLES)[number];

/** Defaults, from DESIGN.md's `kiot up` contract (the ports are AWS IoT's and MQTT's usual ones). */
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_RULES_DIR = './rules';
export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_MQTT_PORT = 1883;
export const DEFAULT_MQTTS_PORT = 8883;
export const DEFAULT_WS_PORT = 8083;
export const DEFAULT_HOST = '127.0.0.1';

export interface Config {
  readonly dataDir: string;
  readonly rulesDir: string;
  readonly httpPort: number;
  readonly mqttPort: number;
  readonly mqttsPort: number;
  readonly wsPort: number;
  readonly host: string;
  /** Kafka bootstrap brokers; empty means the embedded log. */
  readonly kafkaBrokers: readonly string[];
  readonly roles: readonly Role[];
  readonly logLevel: LogLevel;
  /** The config file that was read, if any. */
  readonly configFile: string | undefined;
}

/**
 * Every setting once: its config-file key, its `KIOT_*` variable, its flag, what it expects, and
 * how to read it. The CLI builds its options and help from this table, so the three stay in step.
 */
export const SETTINGS = [
  { key: 'dataDir', env: 'KIOT_DATA_DIR', flag: '--data-dir <dir>', help: 'directory for the embedded log and state', default: DEFAULT_DATA_DIR },
  { key: 'rulesDir', env: 'KIOT_RULES_DIR', flag: '--rules-dir <dir>', help: 'directory of rule files (*.sql, *.rule.json)', default: DEFAULT_RULES_DIR },
  { key: 'httpPort', env: 'KIOT_HTTP_PORT', flag: '--http-port <port>', help: 'HTTP API, /health and /metrics (0 = any free port)', default: DEFAULT_HTTP_PORT },
  { key: 'mqttPort', env: 'KIOT_MQTT_PORT', flag: '--mqtt-port <port>', help: 'MQTT over TCP (0 = any free port)', default: DEFAULT_MQTT_PORT },
  { key: 'mqttsPort', env: 'KIOT_MQTTS_PORT', flag: '--mqtts-port <port>', help: 'MQTT over TLS (0 = any free port)', default: DEFAULT_MQTTS_PORT },
  { key: 'wsPort', env: 'KIOT_WS_PORT', flag: '--ws-port <port>', help: 'MQTT over WebSocket (0 = any free port)', default: DEFAULT_WS_PORT },
  { key: 'host', env: 'KIOT_HOST', flag: '--host <address>', help: 'address every listener binds', default: DEFAULT_HOST },
  { key: 'kafka', env: 'KIOT_KAFKA_BROKERS', flag: '--kafka <brokers>', help: 'run on Kafka: comma-separated host:port list (default: the embedded log)', default: undefined },
  { key: 'roles', env: 'KIOT_ROLES', flag: '--roles <roles>', help: `comma-separated roles this process runs: all, ${ROLES.join(', ')}`, default: 'all' },
  { key: 'logLevel', env: 'KIOT_LOG_LEVEL', flag: '--log-level <level>', help: 'debug, info, warn, error or silent', default: 'info' },
] as const;

export type SettingKey = (typeof SETTINGS)[number]['key'];
/** The variable that names a config file (also `--config`). */
export const CONFIG_FILE_ENV = 'KIOT_CONFIG';
/** Every `KIOT_*` variable kiot reads. */
export const KNOWN_ENV_VARS: readonly string[] = [...SETTINGS.map((s) => s.env), CONFIG_FILE_ENV];

export interface ConfigSources {
  /** Values from command-line flags, by setting key (commander's camelCase names). */
  readonly flags?: Partial<Record<SettingKey, unknown>>;
  /** The process environment (only `KIOT_*` variables are read). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A config file path (JSON or YAML); `--config` or `KIOT_CONFIG`. */
  readonly configFile?: string;
}

interface Raw {
  readonly value: unknown;
  /** Where the value came from, as the user would name it: `--http-port`, `KIOT_HTTP_PORT`, `kiot.yaml: httpPort`. */
  readonly source: string;
}

/**
 * Merges flags over `KIOT_*` variables over the config file over defaults, validates every
 * field once and returns a frozen Config. Errors are CONFIG_INVALID naming the flag, variable
 * or file key and what was expected.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {};
  for (const name of Object.keys(env)) {
    if (name.startsWith('KIOT_') && !KNOWN_ENV_VARS.includes(name)) {
      throw new PlatformError('CONFIG_INVALID', `${name}: not a kiot setting (known: ${KNOWN_ENV_VARS.join(', ')})`, { details: { field: name } });
    }
  }
  const configFile = sources.configFile ?? env[CONFIG_FILE_ENV] ?? undefined;
  const file = configFile ? readConfigFile(configFile) : {};

  const pick = (key: SettingKey): Raw | undefined => {
    const setting = SETTINGS.find((s) => s.key === key)!;
    const flag = sources.flags?.[key];
    if (flag !== undefined) return { value: flag, source: setting.flag.split(' ')[0]! };
    const fromEnv = env[setting.env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: setting.env };
    if (key in file) return { value: file[key], source: `${configFile}: ${key}` };
    return undefined;
  };

  const config: Config = {
    dataDir: text(pick('dataDir'), DEFAULT_DATA_DIR),
    rulesDir: text(pick('rulesDir'), DEFAULT_RULES_DIR),
    httpPort: port(pick('httpPort'), DEFAULT_HTTP_PORT),
    mqttPort: port(pick('mqttPort'), DEFAULT_MQTT_PORT),
    mqttsPort: port(pick('mqttsPort'), DEFAULT_MQTTS_PORT),
    wsPort: port(pick('wsPort'), DEFAULT_WS_PORT),
    host: text(pick('host'), DEFAULT_HOST),
    kafkaBrokers: brokers(pick('kafka')),
    roles: roles(pick('roles')),
    logLevel: logLevel(pick('logLevel')),
    configFile,
  };
  return Object.freeze(config);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PlatformError('CONFIG_INVALID', `${path}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = ['.yaml', '.yml'].includes(extname(path)) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    const where = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    const position = where ? `:${where.line}:${where.col}` : '';
    throw new PlatformError('CONFIG_INVALID', `${path}${position}: not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidConfig(path, 'an object of settings', parsed);
  const known = SETTINGS.map((s) => s.key) as readonly string[];
  for (const key of Object.keys(parsed)) {
    if (!known.includes(key)) throw new PlatformError('CONFIG_INVALID', `${path}: ${key}: not a kiot setting (known: ${known.join(', ')})`, { details: { field: key } });
  }
  return parsed as Record<string, unknown>;
}

function text(raw: Raw | undefined, fallback: string): string {
  if (raw === undefined) return fallback;
  if (typeof raw.value !== 'string' || raw.value.trim() === '') throw invalidConfig(raw.source, 'a non-empty string', raw.value);
  return raw.value;
}

function port(raw: Raw | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = typeof raw.value === 'string' && /^\d+$/.test(raw.value.trim()) ? Number(raw.value) : raw.value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw invalidConfig(raw.source, 'a port number 0-65535 (0 = any free port)', raw.value);
  return n;
}

function list(raw: Raw): string[] {
  if (Array.isArray(raw.value) && raw.value.every((v) => typeof v === 'string')) return raw.value.map((v: string) => v.trim()).filter(Boolean);
  if (typeof raw.value === 'string') return raw.value.split(',').map((v) => v.trim()).filter(Boolean);
  throw invalidConfig(raw.source, 'a comma-separated list or a list of strings', raw.value);
}

function brokers(raw: Raw | undefined): string[] {
  if (raw === undefined) return [];
  const values = list(raw);
  for (const broker of values) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker)) throw invalidConfig(raw.source, 'host:port broker addresses, comma-separated', broker);
  }
  if (values.length === 0) throw invalidConfig(raw.source, 'at least one host:port broker', raw.value);
  return values;
}

function roles(raw: Raw | undefined): Role[] {
  if (raw === undefined) return [...ROLES];
  const values = list(raw);
  if (values.length === 0) throw invalidConfig(raw.source, `roles: all or some of ${ROLES.join(', ')}`, raw.value);
  if (values.includes('all')) return [...ROLES];
  for (const role of values) {
    if (!(ROLES as readonly string[]).includes(role)) throw invalidConfig(raw.source, `roles: all or some of ${ROLES.join(', ')}`, role);
  }
  return ROLES.filter((r) => values.includes(r));
}

function logLevel(raw: Raw | undefined): LogLevel {
  if (raw === undefined) return 'info';
  const levels = ['debug', 'info', 'warn', 'error', 'silent'];
  if (typeof raw.value !== 'string' || !levels.includes(raw.value)) throw invalidConfig(raw.source, levels.join(', '), raw.value);
  return raw.value as LogLevel;
}
