/// <reference path="../actions/s3/testing/vendor-types.d.ts" />
/// <reference path="../actions/dynamodb-client/testing/vendor-types.d.ts" />
/// <reference path="../actions/kinesis/testing/vendor-types.d.ts" />
/**
 * The actions benchmark's child: hosts the targets that are Node servers (dynalite, s3rver,
 * kinesalite) in a process of their own, so that they do not share kiot's (or the baseline
 * client's) event loop, as PostgreSQL, InfluxDB and Redis do not. The parent sends `{ type: 'start', name }` and gets
 * `{ type: 'started', name, endpoint }`; everything stops when the parent sends `exit`.
 */
import { startDynalite } from '../actions/dynamodb-client/testing/dynalite.js';
import { startKinesalite } from '../actions/kinesis/testing/kinesalite.js';
import { startS3rver } from '../actions/s3/testing/s3rver.js';
import { serveParent } from './child.js';

export const BENCH_BUCKET = 'bench';

export interface StartServer {
  readonly type: 'start';
  readonly name: string;
}
export interface ServerStarted {
  readonly type: 'started';
  readonly name: string;
  readonly endpoint: string;
}

/** The servers this child can host, by name; a new Node-hosted target is one entry. */
const HOSTED: Record<string, () => Promise<{ endpoint: string; close(): Promise<void> }>> = {
  dynalite: async () => {
    const s = await startDynalite();
    return { endpoint: s.endpoint, close: () => s.close() };
  },
  s3rver: async () => {
    const s = await startS3rver([BENCH_BUCKET]);
    return { endpoint: s.settings.endpoint!, close: () => s.close() };
  },
  kinesalite: async () => {
    const s = await startKinesalite();
    return { endpoint: s.endpoint, close: () => s.close() };
  },
};

const running: (() => Promise<void>)[] = [];
if (process.send) {
  serveParent<StartServer>(async (m) => {
    const start = HOSTED[m.name];
    if (!start) throw new Error(`no hosted server ${m.name} (known: ${Object.keys(HOSTED).join(', ')})`);
    const server = await start();
    running.push(server.close);
    return { type: 'started', name: m.name, endpoint: server.endpoint } satisfies ServerStarted;
  });
  process.on('disconnect', () => {
    void Promise.all(running.map((close) => close())).finally(() => process.exit(0));
  });
}
