/**
 * Chevrotain's runtime, from the single-file ES module build its package ships
 * (`lib/chevrotain.mjs`: the same version and the same 39 exports, with the parts of lodash-es
 * it uses inlined) rather than from its package entry (`lib/src/api.js`), which imports
 * lodash-es as ~640 modules of its own. Measured in a fresh process: heap used 5.4 MB -> 0.7 MB
 * once loaded; in `kiot up`, which loads the SQL compiler at start, about 1,100 modules -> 450.
 *
 * The package's `exports` names only its entry, so the build is found beside the entry's path.
 * Should a later Chevrotain move it, the entry is loaded instead (chevrotain.test.ts says so).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Chevrotain = typeof import('chevrotain');

/** `lib/src/api.js` -> `lib/chevrotain.mjs`. */
const bundle = new URL('../chevrotain.mjs', pathToFileURL(createRequire(import.meta.url).resolve('chevrotain')));

/** Where Chevrotain was loaded from: `bundle` (lib/chevrotain.mjs) or `entry` (the package entry). */
export const CHEVROTAIN_SOURCE: 'bundle' | 'entry' = existsSync(fileURLToPath(bundle)) ? 'bundle' : 'entry';

const chevrotain = (CHEVROTAIN_SOURCE === 'bundle' ? await import(bundle.href) : await import('chevrotain')) as Chevrotain;

export const { createToken, CstParser, VERSION } = chevrotain;
export const Lexer: Chevrotain['Lexer'] = chevrotain.Lexer;
export type Lexer = InstanceType<Chevrotain['Lexer']>;
