/**
 * `kiot up --threads N`: N - 1 worker threads beside the main one, each running the roles of
 * THREAD_ROLES (service-thread.ts: the rules worker, when this process runs it) on a ThreadLog
 * served by this thread's log. The main thread keeps the log, the listeners, the gateway and
 * every other role, the shadow service among them (beside the gateway, a device's shadow
 * request and its answer are one append: shadow/service.ts); it loads the rules only to list
 * and serve them. The rules group's partitions are shared among the threads as among
 * processes. /metrics and `kiot rules list` sum the threads' rule counters.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { serveLog, type Config, type Log, type Logger, type MetricsJson, type Role, type ServedLog } from '../core/index.js';
import type { RulesListing } from '../rules/worker/index.js';
import type { FromServiceThread, ServiceThreadData, ToServiceThread } from './service-thread.js';

/** The roles `kiot up --threads` runs on its worker threads; every other role stays on the main thread. */
export const THREAD_ROLES: readonly Role[] = ['rules'];

/** How long a thread may take to start (join its group) or to stop (drain its actions). */
const THREAD_START_TIMEOUT_MS = 60_000;
const THREAD_STOP_TIMEOUT_MS = 30_000;
/** A thread that exits while kiot runs is started again after this pause. */
const THREAD_RESTART_DELAY_MS = 1_000;
/** How long /metrics and `kiot rules list` wait for a thread's numbers. */
const THREAD_ANSWER_TIMEOUT_MS = 5_000;

export interface ServiceThreads {
  /** Each running thread's rules registry as data (for Metrics.includeRemote). */
  metrics(): Promise<MetricsJson[]>;
  /** Each running thread's rules listing (for mergeListings). */
  listings(): Promise<RulesListing[]>;
  /** Stops every thread: each leaves the group after committing what it handled. */
  stop(): Promise<void>;
}

interface RunningThread {
  readonly worker: Worker;
  readonly served: ServedLog;
  exited: boolean;
}

/**
 * A service thread: the compiled service-thread.js beside this file, or, when kiot runs from its
 * TypeScript sources (tests, tsx), service-thread.ts through tsx's tsImport (a worker does not
 * get the loader its parent was started with).
 */
function newThread(options: { workerData: ServiceThreadData; transferList: MessagePort[] }): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./service-thread.js', import.meta.url), options);
  const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  const entry = new URL('./service-thread.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`, { ...options, eval: true });
}

export async function startServiceThreads(config: Config, log: Log, logger: Logger): Promise<ServiceThreads> {
  const threads: RunningThread[] = [];
  let nextId = 1;
  const start = (index: number): Promise<RunningThread> => {
    const { port1, port2 } = new MessageChannel();
    const served = serveLog(log, port1, logger);
    const data: ServiceThreadData = { config, port: port2, index, logKind: log.kind };
    const worker = newThread({ workerData: data, transferList: [port2] });
    const thread: RunningThread = { worker, served, exited: false };
    return new Promise<RunningThread>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`service thread ${index} did not start in ${THREAD_START_TIMEOUT_MS / 1000} s`)), THREAD_START_TIMEOUT_MS);
      worker.on('message', (message: FromServiceThread) => {
        if (message.op !== 'ready') return;
        clearTimeout(timer);
        resolve(thread);
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        logger.error({ err, thread: index }, 'service thread failed; its partitions go to the other members');
        reject(err);
      });
      worker.once('exit', (code) => {
        thread.exited = true;
        clearTimeout(timer);
        void served.close();
        reject(new Error(`service thread ${index} exited with code ${code}`));
        // A thread that dies while kiot runs is started again: its partitions went to the
        // other members meanwhile (none with --threads 2) and come back to the new one.
        const at = threads.indexOf(thread);
        if (at < 0 || stopping) return;
        logger.error({ thread: index, code }, 'service thread exited; starting it again');
        setTimeout(() => {
          if (stopping || threads[at] !== thread) return;
          start(index).then(
            (again) => (stopping ? void stopOne(again) : (threads[at] = again)),
            (err: unknown) => logger.error({ err, thread: index }, 'service thread could not be started again'),
          );
        }, THREAD_RESTART_DELAY_MS).unref();
      });
    });
  };
  /** A thread's answer, or undefined when it exits or does not answer in time (a scrape must not hang on it). */
  const ask = <T>(thread: RunningThread, op: 'metrics' | 'list'): Promise<T | undefined> =>
    new Promise((resolve) => {
      if (thread.exited) return resolve(undefined);
      const id = nextId++;
      const done = (value: T | undefined) => {
        clearTimeout(timer);
        thread.worker.off('message', onMessage);
        thread.worker.off('exit', onExit);
        resolve(value);
      };
      const onMessage = (message: FromServiceThread) => {
        if (message.op === op && message.id === id) done(message.value as T);
      };
      const onExit = () => done(undefined);
      const timer = setTimeout(() => done(undefined), THREAD_ANSWER_TIMEOUT_MS);
      thread.worker.on('message', onMessage);
      thread.worker.once('exit', onExit);
      thread.worker.postMessage({ op, id } satisfies ToServiceThread);
    });
  const askAll = async <T>(op: 'metrics' | 'list'): Promise<T[]> => (await Promise.all(threads.map((t) => ask<T>(t, op)))).filter((v): v is Awaited<T> => v !== undefined) as T[];
  const stopOne = async (thread: RunningThread) => {
    if (!thread.exited) {
      const stopped = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, THREAD_STOP_TIMEOUT_MS);
        thread.worker.on('message', (message: FromServiceThread) => message.op === 'stopped' && (clearTimeout(timer), resolve()));
        thread.worker.once('exit', () => (clearTimeout(timer), resolve()));
      });
      thread.worker.postMessage({ op: 'stop' } satisfies ToServiceThread);
      await stopped;
      await thread.worker.terminate();
    }
    await thread.served.close();
  };
  let stopping = false;
  const stop = async () => {
    stopping = true;
    await Promise.all(threads.splice(0).map(stopOne));
  };
  try {
    const started = await Promise.allSettled(Array.from({ length: config.threads - 1 }, (_, i) => start(i + 1)));
    for (const s of started) if (s.status === 'fulfilled') threads.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  } catch (err) {
    await stop();
    throw err;
  }
  return { metrics: () => askAll<MetricsJson>('metrics'), listings: () => askAll<RulesListing>('list'), stop };
}
