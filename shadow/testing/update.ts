/** For shadow's tests: an accepted update applied to a stored shadow (throws when refused). */
import { applyUpdate, parseRequest, type StoredShadow } from '../document.js';

export const T0 = 1_700_000_000;

export function update(current: StoredShadow | undefined, body: unknown, now = T0) {
  const parsed = parseRequest(JSON.stringify(body), 'update');
  if (!parsed.ok) throw new Error(`refused: ${parsed.error.message}`);
  const outcome = applyUpdate(current, parsed.value, now);
  if (!outcome.ok) throw new Error(`refused: ${outcome.error.message}`);
  return outcome.value;
}
