/**
 * A worker thread of `kiot up --threads N`: one more member of the rules consumer group, on a
 * ThreadLog to the main thread's log (threads.ts starts it). It answers `metrics` with its
 * rules registry as data, `list` with its rules listing, and `stop` by leaving the group (what it handled committed) and
 * closing what it opened.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ThreadLog, createLogger, type Config } from '../core/index.js';
import { startRulesRole } from './rules-role.js';

/** What the main thread hands a rules thread. */
export interface RulesThreadData {
  readonly config: Config;
  readonly port: MessagePort;
  readonly index: number;
  readonly logKind: string;
}

/** Main thread → rules thread. */
export type ToRulesThread = { readonly op: 'metrics' | 'list'; readonly id: number } | { readonly op: 'stop' };
/** Rules thread → main thread. */
export type FromRulesThread = { readonly op: 'ready' } | { readonly op: 'metrics' | 'list'; readonly id: number; readonly value: unknown } | { readonly op: 'stopped' };

const { config, port, index, logKind } = workerData as RulesThreadData;
const parent = parentPort!;
const logger = createLogger(config.logLevel).child({ thread: index });
const log = new ThreadLog(port, { logger, kind: logKind });
const rules = await startRulesRole(config, { log, logger });
parent.on('message', (message: ToRulesThread) => {
  if (message.op === 'metrics') {
    void rules.service.metricsRegistry.getMetricsAsJSON().then((value) => parent.postMessage({ op: 'metrics', id: message.id, value } satisfies FromRulesThread));
    return;
  }
  if (message.op === 'list') {
    parent.postMessage({ op: 'list', id: message.id, value: rules.service.list() } satisfies FromRulesThread);
    return;
  }
  void (async () => {
    try {
      await rules.stop();
    } catch (err) {
      logger.error({ err }, 'stopping the rules thread failed');
    }
    await log.close();
    parent.postMessage({ op: 'stopped' } satisfies FromRulesThread);
  })();
});
parent.postMessage({ op: 'ready' } satisfies FromRulesThread);
