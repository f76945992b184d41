/**
 * A rules service in a child process, for crash tests: it is SIGKILLed by the parent test.
 *
 *   tsx worker-child.ts <dataDir> <rulesDir>
 *     opens the embedded log, runs the rules service on it, prints "started".
 */
import { EmbeddedLog, loadConfig, silentLogger } from '../../../core/index.js';
import { createRulesService } from '../service.js';

const [dataDir, rulesDir] = process.argv.slice(2);
const log = await EmbeddedLog.open({ dataDir: dataDir!, logger: silentLogger() });
const service = createRulesService(loadConfig({ flags: { dataDir: dataDir!, rulesDir: rulesDir! }, env: {} }).rules, {
  log,
  logger: silentLogger(),
  options: { useTable: false, maxInFlight: 200, maxBatchRecords: 100 },
});
await service.start();
process.stdout.write('started\n');
