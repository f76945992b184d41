/** A test's HTTP server on a free loopback port. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedLoopback {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Drops open connections and stops listening. */
  close(): Promise<void>;
}

export async function serveLoopback(server: Server): Promise<ServedLoopback> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
