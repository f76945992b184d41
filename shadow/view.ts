/**
 * A read-only view of `iot.shadows` for other roles: the rules worker's `get_thing_shadow`
 * reads its process's copy of the table, with no request to the shadow service.
 */
import { StateStore, TOPICS, topicSpec, type Log, type Logger } from '../core/index.js';
import { getDocument } from './document.js';
import { shadowCodec } from './record.js';
import { shadowKey, type ShadowId } from './topics.js';

export interface ShadowReader {
  /** The document GetThingShadow would answer with, or undefined when the shadow does not exist. */
  document(id: ShadowId): object | undefined;
  close(): Promise<void>;
}

export async function openShadowReader(deps: { readonly log: Log; readonly logger: Logger }): Promise<ShadowReader> {
  const view = await StateStore.open({ log: deps.log, logger: deps.logger, topic: topicSpec(TOPICS.shadows), codec: shadowCodec });
  return {
    document(id) {
      const outcome = getDocument(view.get(shadowKey(id)), {}, Math.floor(Date.now() / 1000));
      return outcome.ok ? outcome.value : undefined;
    },
    close: () => view.close(),
  };
}
