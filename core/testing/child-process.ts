import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** tsx's loader by absolute URL, so test children run TypeScript sources from any working directory. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
