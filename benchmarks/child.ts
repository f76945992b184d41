/**
 * The benchmarks' forked children, both sides: a benchmark forks a module beside it (the load
 * generator, a peer broker) with {@link Child} and talks to it over IPC; the module answers
 * with {@link serveParent} and {@link replyToParent}. Messages are objects with a `type`; a
 * child reports a failure as `{ type: 'error', message }` and leaves when sent `{ type: 'exit' }`.
 *
 * This module imports Node built-ins only: a child that is measured (aedes's RSS in e2e) must
 * not carry kiot's modules.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a child sends when it failed. */
export interface ChildFailed {
  readonly type: 'error';
  readonly message: string;
}

/** What the parent sends to make a child leave. */
export interface ChildExit {
  readonly type: 'exit';
}

export interface ChildOptions {
  /** Names the child in errors: `${label} failed: ...`. */
  readonly label: string;
  /** A child that does not answer within this time (setup, a run and its drain) has failed. */
  readonly replyTimeoutMs: number;
}

/** How long a child asked to exit has before it is killed. */
const EXIT_GRACE_MS = 5_000;

/**
 * The module `name` beside this one (`.js` in dist/, `.ts` when run from source through tsx),
 * and the Node flags to fork it with: this process's, less any profiling (`node --cpu-prof`
 * profiles kiot, not the children).
 */
function childEntry(name: string): { file: string; execArgv: string[] } {
  const ext = extname(fileURLToPath(import.meta.url));
  const file = fileURLToPath(new URL(`./${name}${ext}`, import.meta.url));
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const arg = process.execArgv[i]!;
    if (!/^--(cpu|heap)-prof/.test(arg)) execArgv.push(arg);
    else if (/^--(cpu|heap)-prof-(dir|name|interval)$/.test(arg)) i++; // its value is the next argument
  }
  if (ext === '.ts' && !execArgv.some((a) => a.includes('tsx'))) execArgv.push('--import', 'tsx');
  return { file, execArgv };
}

/** A forked child with a reply channel: `Request`s go down, `Reply`s come back in order. */
export class Child<Request extends { readonly type: string }, Reply extends { readonly type: string }> {
  readonly #child: ChildProcess;
  readonly #options: ChildOptions;
  readonly #replies: (Reply | ChildFailed)[] = [];
  readonly #exited: Promise<void>;
  #waiting: ((r: Reply | ChildFailed) => void) | undefined;

  /** Forks the module `name` (without extension) beside this one with `args`. */
  constructor(name: string, args: readonly string[], options: ChildOptions) {
    this.#options = options;
    const { file, execArgv } = childEntry(name);
    this.#child = fork(file, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (m: Reply | ChildFailed) => this.#deliver(m));
    this.#child.on('error', (err) => this.#deliver({ type: 'error', message: err.message }));
    this.#exited = new Promise((resolve) =>
      this.#child.on('exit', (code, signal) => {
        this.#deliver({ type: 'error', message: `exited (${signal ?? code})` });
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.#child.pid!;
  }

  #deliver(m: Reply | ChildFailed): void {
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting(m);
    } else this.#replies.push(m);
  }

  /** The next reply; rejects on an error reply, an exit or a timeout. */
  async next(): Promise<Exclude<Reply, ChildFailed>> {
    const { replyTimeoutMs, label } = this.#options;
    const reply =
      this.#replies.shift() ??
      (await new Promise<Reply | ChildFailed>((resolve) => {
        const timer = setTimeout(() => this.#deliver({ type: 'error', message: `no reply within ${replyTimeoutMs} ms` }), replyTimeoutMs);
        this.#waiting = (r) => {
          clearTimeout(timer);
          resolve(r);
        };
      }));
    if (isFailure(reply)) throw new Error(`${label} failed: ${reply.message}`);
    return reply as Exclude<Reply, ChildFailed>;
  }

  send(m: Request | ChildExit): void {
    this.#child.send(m);
  }

  /** Asks the child to exit, kills it after a grace period, and resolves once it is gone. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      if (this.#child.connected) this.send({ type: 'exit' });
      const timer = setTimeout(() => this.#child.kill(), EXIT_GRACE_MS);
      await this.#exited;
      clearTimeout(timer);
    }
  }
}

const isFailure = (m: { readonly type: string }): m is ChildFailed => m.type === 'error';

/** Sends `m` to the parent while it listens (a parent that went away must not crash the child mid-run). */
export function replyToParent<M extends { readonly type: string }>(m: M): void {
  if (process.connected) process.send?.(m);
}

/**
 * The child's side: runs each request the parent sends with `run` and replies with its result,
 * or with a {@link ChildFailed} when it throws; disconnects when sent {@link ChildExit}.
 */
export function serveParent<Request extends { readonly type: string }>(run: (request: Request) => Promise<{ readonly type: string }>): void {
  process.on('message', (m: Request | ChildExit) => {
    if (m.type === 'exit') {
      process.disconnect?.();
      return;
    }
    const failed = (err: unknown): ChildFailed => ({ type: 'error', message: (err as Error).message });
    run(m as Request).then(replyToParent, (err: unknown) => replyToParent(failed(err)));
  });
}

/**
 * A load process's entry: `load` (forked with IPC) serves the parent's requests with `serve`;
 * `memory [count]` runs `memory` once, its progress and result sent to the parent when forked
 * with IPC, else printed (so it can be run by hand: `node dist/benchmarks/<name>.js memory`).
 */
export function runLoadProcess<Request extends { readonly type: string }>(
  name: string,
  modes: { readonly serve: (request: Request) => Promise<{ readonly type: string }>; readonly memory: (count: number, progress: (line: string) => void) => Promise<{ readonly type: string }> },
): void {
  const main = async (): Promise<void> => {
    const [mode, arg] = process.argv.slice(2);
    if (mode === 'memory') {
      const count = Number(arg ?? 100_000);
      const viaIpc = process.send !== undefined;
      const progress = (line: string) => (viaIpc ? replyToParent({ type: 'progress', line }) : process.stdout.write(`${line}\n`));
      try {
        const result = await modes.memory(count, progress);
        if (viaIpc) replyToParent(result);
        else process.stdout.write(`${JSON.stringify(result)}\n`);
      } catch (err) {
        if (viaIpc) replyToParent({ type: 'error', message: (err as Error).stack ?? String(err) });
        else throw err;
      }
      process.disconnect?.();
      return;
    }
    if (mode !== 'load' || !process.send) throw new Error(`usage: ${name}.js load (forked with IPC) | memory [count]`);
    serveParent<Request>(modes.serve);
  };
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
