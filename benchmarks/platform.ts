/** kiot started in the benchmark's own process, as the benchmarks that measure it end to end need it. */
import { join } from 'node:path';
import { loadConfig, silentLogger } from '../core/index.js';
import { startPlatform } from '../cli/up.js';

/**
 * Starts kiot as `kiot up` runs it (`startPlatform`, every role) with its data and rules dirs
 * under `dir`, every listener on a free port, no log output, and AWS IoT's per-connection
 * publish quotas (100 publishes/s, 512 KiB/s) lifted: with them a benchmark would measure the
 * limiter. `flags` adds to these or overrides them, as `kiot up`'s flags.
 */
export function startBenchPlatform(dir: string, flags: Record<string, string>, progress: (line: string) => void): ReturnType<typeof startPlatform> {
  const config = loadConfig({
    flags: {
      dataDir: join(dir, 'data'),
      rulesDir: join(dir, 'rules'),
      httpPort: '0',
      mqttPort: '0',
      mqttsPort: '0',
      wsPort: '0',
      httpsPort: '0',
      logLevel: 'silent',
      maxPublishesPerSecondPerConnection: '0',
      maxBytesPerSecondPerConnection: '0',
      ...flags,
    },
    env: {},
  });
  return startPlatform(config, () => undefined, silentLogger(), (line) => progress(line));
}
