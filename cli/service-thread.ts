/**
 * A worker thread of `kiot up --threads N` (threads.ts starts it): the roles that run on worker
 * threads (threads.ts's `THREAD_ROLES`, those of this process's roles), on a ThreadLog to the main thread's
 * log. The rules worker is a member of the rules group; its get_thing_shadow reads a shadow
 * view of this thread's own (rules-role.ts).
 * It answers `metrics` with its rules registry as data, `list` with its rules listing, and
 * `stop` by stopping its services (what they handled committed) and closing its log.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ThreadLog, createLogger, type Config, type Role } from '../core/index.js';
import { startRulesRole, type RulesRole } from './rules-role.js';

/** What the main thread hands a service thread. */
export interface ServiceThreadData {
  readonly config: Config;
  readonly port: MessagePort;
  readonly index: number;
  readonly logKind: string;
}

/** Main thread → service thread. */
export type ToServiceThread = { readonly op: 'metrics' | 'list'; readonly id: number } | { readonly op: 'stop' };
/** Service thread → main thread. */
export type FromServiceThread = { readonly op: 'ready' } | { readonly op: 'metrics' | 'list'; readonly id: number; readonly value: unknown } | { readonly op: 'stopped' };

const { config, port, index, logKind } = workerData as ServiceThreadData;
const parent = parentPort!;
const has = (role: Role) => config.roles.includes(role);
const logger = createLogger(config.logLevel).child({ thread: index });
const log = new ThreadLog(port, { logger, kind: logKind });
const stops: (() => Promise<void>)[] = [];
let rules: RulesRole | undefined;
if (has('rules')) {
  rules = await startRulesRole(config, { log, logger });
  stops.push(() => rules!.stop());
}
parent.on('message', (message: ToServiceThread) => {
  if (message.op === 'metrics') {
    void (rules ? rules.service.metricsRegistry.getMetricsAsJSON() : Promise.resolve([])).then((value) => parent.postMessage({ op: 'metrics', id: message.id, value } satisfies FromServiceThread));
    return;
  }
  if (message.op === 'list') {
    parent.postMessage({ op: 'list', id: message.id, value: rules?.service.list() } satisfies FromServiceThread);
    return;
  }
  void (async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err }, 'stopping a service thread failed');
      }
    }
    await log.close();
    parent.postMessage({ op: 'stopped' } satisfies FromServiceThread);
  })();
});
parent.postMessage({ op: 'ready' } satisfies FromServiceThread);
