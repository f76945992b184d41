import { expect, test } from 'vitest';
import * as bundle from './chevrotain.js';

test("Chevrotain is loaded from its package's single-file build, of the installed version", async () => {
  // The entry works too, but costs ~640 lodash-es modules (5 MB of heap in `kiot up`): a
  // Chevrotain that moved its build should be noticed here, not in a memory benchmark.
  expect(bundle.CHEVROTAIN_SOURCE).toBe('bundle');
  const entry = await import('chevrotain');
  expect(bundle.VERSION).toBe(entry.VERSION);
  for (const name of ['createToken', 'CstParser', 'Lexer'] as const) expect(typeof bundle[name]).toBe(typeof entry[name]);
  expect(bundle.Lexer.SKIPPED).toBe(entry.Lexer.SKIPPED);
});
