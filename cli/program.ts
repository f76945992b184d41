/** The `kiot` command's program: every command and its options (main.ts runs it). */
import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { PlatformError, SETTINGS, createLogger, loadConfig, type SettingKey } from '../core/index.js';
import { register as registerAccessKeys } from './commands/access-keys.js';
import { register as registerDevice } from './commands/device.js';
import { register as registerJobs } from './commands/jobs.js';
import { register as registerProvision } from './commands/provision.js';
import { register as registerRulesList } from './commands/rules-list.js';
import { register as registerRules } from './commands/rules.js';
import { register as registerShadow } from './commands/shadow.js';
import { register as registerTopics } from './commands/topics.js';
import { register as registerSql } from './commands/sql.js';
import { startPlatform } from './up.js';
import { releaseYoungGeneration } from './young-generation.js';

// kiot supports Node 20 (package.json "engines"); the AWS SDK's notice that its own future
// releases will not is not something a kiot user can act on, so it is not printed on every run.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

/** The version in kiot's package.json (two folders up from `dist/cli/program.js`, one from `cli/program.ts`). */
function packageVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version?: string };
      if (pkg.name === 'kiot' && pkg.version) return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
}

/** Prints a kiot error as one line and exits non-zero; anything else is a bug and shows its stack. */
export function fail(err: unknown): never {
  if (err instanceof PlatformError) process.stderr.write(`kiot: ${err.message}\n`);
  else process.stderr.write(`kiot: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(err instanceof PlatformError && err.code === 'CONFIG_INVALID' ? 2 : 1);
}

export function buildProgram(): Command {
  const program = new Command('kiot')
    .description('kiot: a self-hosted IoT core on Kafka, speaking the AWS IoT protocols and APIs')
    .version(packageVersion(), '-V, --version', 'print the version of kiot')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) })
    // Only `kiot up` bounds the young generation; every other command gets V8's behaviour back.
    .hook('preAction', (_program, command) => {
      if (command.name() !== 'up') releaseYoungGeneration();
    });

  const up = program
    .command('up')
    .description(
      'run the platform: the log (embedded by default, Kafka with --kafka), the HTTP listener with /health and /metrics, ' +
        'and the services of the chosen roles. Prints "listening <name> <host>:<port>" per listener, then "ready". ' +
        'Every option is also a KIOT_* variable and a config-file key.',
    )
    .option('--config <file>', 'config file (JSON or YAML); also KIOT_CONFIG');
  for (const s of SETTINGS) {
    // The default goes into the text: a commander default value would hide whether the flag was
    // given, and flags must win over variables and the config file only when they are.
    up.addOption(new Option(s.flag, `${s.help} [${s.env}]${s.default !== undefined ? ` (default: ${String(s.default)})` : ''}`));
  }
  up.action(async (flags: Partial<Record<SettingKey, string>> & { config?: string }) => {
    const config = loadConfig({ flags, env: process.env, ...(flags.config ? { configFile: flags.config } : {}) });
    const logger = createLogger(config.logLevel);
    const platform = await startPlatform(config, (line) => process.stdout.write(`${line}\n`), logger);
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      platform.stop().then(
        () => process.exit(0),
        (err: unknown) => fail(err),
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
  registerSql(program);
  registerRules(program);
  registerRulesList(program);
  registerDevice(program);
  registerAccessKeys(program);
  registerShadow(program);
  registerJobs(program);
  registerProvision(program);
  registerTopics(program);
  return program;
}
