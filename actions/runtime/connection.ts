/**
 * One client a sink keeps open between batches: opened on first use, opened afresh after it is
 * dropped (it broke, or a batch left replies unknown), closed once. Shared by the kinds that
 * hold a single connection (redis, mqtt); the action runner's backoff paces the reopening.
 */
import { PlatformError } from '../../core/index.js';

export interface ConnectionOps<C> {
  /** Connects; rejects with SINK_UNAVAILABLE (retriable) when the target cannot be reached. */
  open(): Promise<C>;
  /** Ends a client at once, without waiting for anything in flight. */
  destroy(client: C): void;
  /** Ends a client politely (QUIT, DISCONNECT). */
  end(client: C): Promise<unknown>;
}

export class SinkConnection<C> {
  #client: Promise<C> | undefined;
  #closed = false;

  constructor(
    private readonly target: string,
    private readonly ops: ConnectionOps<C>,
  ) {}

  /** The open client; rejects once closed (not retriable) or while the target is unreachable. */
  get(): Promise<C> {
    if (this.#closed) return Promise.reject(new PlatformError('SINK_UNAVAILABLE', `${this.target}: the action is closed`, { retriable: false }));
    return (this.#client ??= this.ops.open().catch((err: unknown) => {
      this.#client = undefined;
      throw err;
    }));
  }

  /** Destroys `client` and forgets it if it is the current one, so that the next get() reconnects. */
  drop(client: C): void {
    void this.#client?.then((c) => {
      if (c === client) this.#client = undefined;
    }, () => {});
    this.ops.destroy(client);
  }

  /** Ends the client; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = await this.#client?.catch(() => undefined);
    this.#client = undefined;
    if (client !== undefined) await this.ops.end(client).catch(() => this.ops.destroy(client));
  }
}
