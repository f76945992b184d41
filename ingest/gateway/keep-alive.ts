/**
 * Keep-alive (MQTT §3.1.2.10): a client silent for one and a half times its keep-alive is
 * disconnected. One timer per check interval for the whole gateway rather than one per
 * connection: a fleet uses a few keep-alive values, and a timer of its own (a Node Timeout, its
 * closure and a cancel handle) was a few hundred bytes of every idle connection (issue 12).
 */
import type { ClockTimer, GatewayClock } from '../clock.js';

/** What the watch needs of a connection. */
export interface KeepAliveClient {
  /** When the client last sent anything (clock ms). */
  readonly lastSeen: number;
  /** The keep-alive it is watched with (seconds), 0 when not watched: kept by the watch, on the client rather than in a map of its own. */
  keepAliveSec: number;
  /** Called once the client has been silent too long; the client is no longer watched. */
  keepAliveExpired(): void;
}

interface Group {
  readonly limitMs: number;
  readonly clients: Set<KeepAliveClient>;
  readonly timer: ClockTimer;
}

/** How often a client with this keep-alive is checked: half its keep-alive, between 250 ms and 30 s. */
export function keepAliveCheckMs(keepAliveSec: number): number {
  return Math.max(250, Math.min(keepAliveSec * 500, 30_000));
}

export class KeepAliveWatch {
  /** By keep-alive (seconds): the clients, their limit and the group's timer, while it has clients. */
  readonly #groups = new Map<number, Group>();
  #size = 0;

  constructor(private readonly clock: GatewayClock) {}

  /** Watches `client` (keep-alive > 0 seconds) until {@link unwatch} or it expires. */
  watch(client: KeepAliveClient, keepAliveSec: number): void {
    this.unwatch(client);
    let group = this.#groups.get(keepAliveSec);
    if (!group) {
      const clients = new Set<KeepAliveClient>();
      const limitMs = keepAliveSec * 1500; // one and a half times the keep-alive
      group = { limitMs, clients, timer: this.clock.every(keepAliveCheckMs(keepAliveSec), () => this.#check(keepAliveSec)) };
      this.#groups.set(keepAliveSec, group);
    }
    group.clients.add(client);
    client.keepAliveSec = keepAliveSec;
    this.#size++;
  }

  unwatch(client: KeepAliveClient): void {
    const keepAliveSec = client.keepAliveSec;
    if (keepAliveSec === 0) return;
    client.keepAliveSec = 0;
    this.#size--;
    const group = this.#groups.get(keepAliveSec)!;
    group.clients.delete(client);
    if (group.clients.size === 0) {
      group.timer.cancel();
      this.#groups.delete(keepAliveSec);
    }
  }

  /** Clients watched (for tests and metrics). */
  get size(): number {
    return this.#size;
  }

  #check(keepAliveSec: number): void {
    const group = this.#groups.get(keepAliveSec);
    if (!group) return;
    const now = this.clock.now();
    const expired: KeepAliveClient[] = [];
    for (const client of group.clients) if (now - client.lastSeen > group.limitMs) expired.push(client);
    for (const client of expired) {
      this.unwatch(client);
      client.keepAliveExpired();
    }
  }
}
