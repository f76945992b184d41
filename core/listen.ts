import type { AddressInfo, Server } from 'node:net';
import { listenFailed } from './errors.js';

/** Binds a listener (TCP, TLS, HTTP, HTTPS); resolves with its port, or rejects with `listenFailed`'s one line. */
export function listen(server: Server, listener: string, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: unknown) => reject(listenFailed(listener, host, port, err));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
