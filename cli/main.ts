#!/usr/bin/env -S node --max-semi-space-size=32
/**
 * The `kiot` command (`node dist/cli/main.js`, the `kiot` bin, `npm start`). The program is
 * imported only once young-generation.ts holds V8's young generation: an ES module graph is
 * fetched and compiled whole before any of it runs, so a hold placed in the program's own
 * imports would come after the ~1,100 modules of `kiot up` had grown it (young-generation.ts).
 */
import './young-generation.js';

const { buildProgram, fail } = await import('./program.js');
buildProgram().parseAsync(process.argv).catch(fail);
