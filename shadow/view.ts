/**
 * A read-only view of `iot.shadows` for other roles: the rules worker's `get_thing_shadow`
 * reads its process's copy of the table, with no request to the shadow service.
 */
import { StateStore, TOPICS, topicSpec, type Log, type Logger } from '../core/index.js';
import { getDocument, type StoredShadow } from './document.js';
import { shadowCodec } from './record.js';
import { shadowKey, type ShadowId } from './topics.js';

export interface ShadowReader {
  /** The document GetThingShadow would answer with, or undefined when the shadow does not exist. */
  document(id: ShadowId): object | undefined;
  close(): Promise<void>;
}

/** A stored shadow as GetThingShadow answers it now, or undefined when there is none. */
export function currentDocument(stored: StoredShadow | undefined): object | undefined {
  const outcome = getDocument(stored, {}, Math.floor(Date.now() / 1000));
  return outcome.ok ? outcome.value : undefined;
}

export async function openShadowReader(deps: { readonly log: Log; readonly logger: Logger }): Promise<ShadowReader> {
  const view = await StateStore.open({ log: deps.log, logger: deps.logger, topic: topicSpec(TOPICS.shadows), codec: shadowCodec });
  return {
    document: (id) => currentDocument(view.get(shadowKey(id))),
    close: () => view.close(),
  };
}
