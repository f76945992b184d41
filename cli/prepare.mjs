// `npm install`'s prepare step: builds dist/ with TypeScript when the dev dependencies are
// installed (a clone), and keeps the shipped dist/ when they are not (`npm install --omit=dev`
// of a release, whose tarball carries dist/). Plain JavaScript: it runs before any build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  if (existsSync(new URL('../dist/cli/main.js', import.meta.url))) process.exit(0);
  console.error('kiot: dist/ is missing and TypeScript is not installed to build it: run `npm install` without --omit=dev');
  process.exit(1);
}
const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
process.exit(build.status ?? 1);
