/**
 * `kiot provision bulk FILE.jsonl --template T`: what StartThingRegistrationTask does with an S3
 * object, from a local file, against a running kiot. Each line is a JSON object of template
 * parameters; lines go in batches to kiot (`POST /kiot/provisioning/bulk/<run>`), which applies
 * each once per (run, line), all or nothing (provisioning/apply.ts). Results and errors are
 * written as JSON lines, in AWS's report shapes, to FILE.results.jsonl and FILE.errors.jsonl.
 *
 * Memory stays bounded: the file is streamed a batch at a time. A run that is killed resumes
 * where it stopped when started again with the same file and template: FILE.progress.json
 * (written after each batch's report lines) holds the run id, the line and byte reached, the
 * counts and the report files' lengths; the reports are cut back to those lengths and the
 * unfinished batch is sent again, which kiot applies once.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { appendFile, readFile, rename, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { jsonLines } from '../../provisioning/index.js';
import { apiClient, describeFailure, withApiClientOptions, type ApiClientFlags } from './signed-request.js';
import { processIo, type CliIo } from './sql.js';

/** Lines per request: small enough to answer well within the request timeout, large enough to keep kiot busy. */
export const DEFAULT_BULK_BATCH = 200;

interface Progress {
  readonly runId: string;
  /** What the run is of: the file's size and the template's SHA-256; a different one starts over. */
  readonly fileBytes: number;
  readonly templateHash: string;
  readonly line: number;
  readonly byte: number;
  readonly successCount: number;
  readonly failureCount: number;
  readonly resultsBytes: number;
  readonly errorsBytes: number;
}

interface BulkOptions extends ApiClientFlags {
  readonly template: string;
  readonly batch: string;
  readonly results?: string;
  readonly errors?: string;
  readonly restart?: boolean;
}

type Client = Awaited<ReturnType<typeof apiClient>>;

class CallFailed extends Error {}

async function call(client: Client, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const res = await client.request(method, path, body === undefined ? undefined : JSON.stringify(body));
  if (res.status !== 200) throw new CallFailed(describeFailure(res));
  return res.body ? (JSON.parse(res.body) as Record<string, any>) : {};
}

/** The template body: a file holding it, else the default version of the provisioning template of that name. */
async function templateBodyOf(client: Client, template: string): Promise<string> {
  if (existsSync(template)) return readFile(template, 'utf8');
  const described = await call(client, 'GET', `/provisioning-templates/${encodeURIComponent(template)}`);
  return described['templateBody'] as string;
}

const sizeOf = async (path: string): Promise<number> => (existsSync(path) ? (await stat(path)).size : 0);

/** `[#########...........]  45%  45000 lines  1234/s` */
function progressBar(done: number, total: number, lines: number, startedAt: number): string {
  const width = 30;
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  const rate = lines / Math.max(0.001, (Date.now() - startedAt) / 1000);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${lines} lines  ${Math.round(rate)}/s`;
}

export async function bulk(file: string, options: BulkOptions, io: CliIo): Promise<number> {
  const batchLines = Number(options.batch);
  if (!Number.isInteger(batchLines) || batchLines < 1 || batchLines > 1000) throw new Error(`--batch: expected an integer from 1 to 1000, received ${options.batch}`);
  if (!existsSync(file)) throw new Error(`${file}: no such file`);
  const client = await apiClient(options);
  const templateBody = await templateBodyOf(client, options.template);
  const resultsPath = options.results ?? file.replace(/\.jsonl?$/, '') + '.results.jsonl';
  const errorsPath = options.errors ?? file.replace(/\.jsonl?$/, '') + '.errors.jsonl';
  const progressPath = `${file}.progress.json`;
  const fileBytes = (await stat(file)).size;
  const templateHash = createHash('sha256').update(templateBody).digest('hex');

  let progress: Progress | undefined;
  if (!options.restart && existsSync(progressPath)) {
    const saved = JSON.parse(await readFile(progressPath, 'utf8')) as Progress;
    if (saved.fileBytes === fileBytes && saved.templateHash === templateHash) progress = saved;
  }
  if (progress) {
    // Report lines written after the last progress record belong to the batch sent again.
    if ((await sizeOf(resultsPath)) > progress.resultsBytes) await truncate(resultsPath, progress.resultsBytes);
    if ((await sizeOf(errorsPath)) > progress.errorsBytes) await truncate(errorsPath, progress.errorsBytes);
    io.stderr.write(`resuming at line ${progress.line + 1} (${progress.successCount} provisioned, ${progress.failureCount} failed so far)\n`);
  } else {
    progress = { runId: randomUUID(), fileBytes, templateHash, line: 0, byte: 0, successCount: 0, failureCount: 0, resultsBytes: 0, errorsBytes: 0 };
    await writeFile(resultsPath, '');
    await writeFile(errorsPath, '');
  }

  const startedAt = Date.now();
  const firstLine = progress.line;
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  let lastDraw = 0;
  const lines = jsonLines(createReadStream(file, { start: progress.byte }), progress.byte);
  for (;;) {
    const batch: { line: number; parameters?: unknown; invalid?: string }[] = [];
    let end: number = progress.byte;
    while (batch.length < batchLines) {
      const next: IteratorResult<{ text: string; end: number }> = await lines.next();
      if (next.done) break;
      end = next.value.end;
      const line = progress.line + batch.length;
      if (next.value.text.trim() === '') {
        batch.push({ line });
        continue;
      }
      let parameters: unknown;
      try {
        parameters = JSON.parse(next.value.text);
      } catch (err) {
        batch.push({ line, invalid: `line ${line + 1}: not JSON (${(err as Error).message})` });
        continue;
      }
      if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) batch.push({ line, invalid: `line ${line + 1}: expected a JSON object of template parameters` });
      else batch.push({ line, parameters });
    }
    if (batch.length === 0) break;
    const send = batch.filter((b) => b.parameters !== undefined && b.invalid === undefined);
    const answered = send.length === 0 ? { results: [] } : await call(client, 'POST', `/kiot/provisioning/bulk/${progress.runId}`, { templateBody, keepFrom: progress.line, lines: send.map((b) => ({ line: b.line, parameters: b.parameters })) });
    const byLine = new Map<number, Record<string, any>>((answered['results'] as Record<string, any>[]).map((r) => [r['line'] as number, r]));
    let results = '';
    let errors = '';
    let ok = 0;
    let failed = 0;
    for (const b of batch) {
      const r = byLine.get(b.line);
      if (b.invalid !== undefined || (r && r['errorCode'] !== undefined)) {
        failed++;
        errors += `${JSON.stringify({ offset: b.line, errorCode: r?.['errorCode'] ?? 'REGISTRY_INVALID', errorMessage: b.invalid ?? r?.['errorMessage'] })}\n`;
      } else if (r) {
        ok++;
        results += `${JSON.stringify({ offset: b.line, response: { ...(r['certificatePem'] ? { CertificatePem: r['certificatePem'] } : {}), ResourceArns: r['resourceArns'] } })}\n`;
      }
    }
    if (results) await appendFile(resultsPath, results);
    if (errors) await appendFile(errorsPath, errors);
    progress = {
      ...progress,
      line: progress.line + batch.length,
      byte: end,
      successCount: progress.successCount + ok,
      failureCount: progress.failureCount + failed,
      resultsBytes: progress.resultsBytes + Buffer.byteLength(results),
      errorsBytes: progress.errorsBytes + Buffer.byteLength(errors),
    };
    // Written whole, then renamed: a kill leaves the old record or the new one, never half of one.
    await writeFile(`${progressPath}.tmp`, JSON.stringify(progress));
    await rename(`${progressPath}.tmp`, progressPath);
    if (tty && Date.now() - lastDraw > 100) {
      io.stderr.write(`\r${progressBar(progress.byte, fileBytes, progress.line, startedAt)}`);
      lastDraw = Date.now();
    }
  }
  if (tty) io.stderr.write(`\r${progressBar(fileBytes, fileBytes, progress.line, startedAt)}\n`);
  await call(client, 'POST', `/kiot/provisioning/bulk/${progress.runId}`, { finished: true });
  await unlink(progressPath);
  const seconds = (Date.now() - startedAt) / 1000;
  const rate = Math.round((progress.line - firstLine) / Math.max(0.001, seconds));
  io.stdout.write(
    `provisioned ${progress.successCount}, failed ${progress.failureCount}, of ${progress.line} lines in ${seconds.toFixed(1)} s (${rate} lines/s)\n` +
      `results: ${resultsPath}\n` +
      (progress.failureCount > 0 ? `errors: ${errorsPath}\n` : ''),
  );
  return progress.failureCount > 0 ? 1 : 0;
}

export function register(program: Command, io: CliIo = processIo): void {
  const provision = program.command('provision').description('provision devices from provisioning templates on a running kiot');
  withApiClientOptions(
    provision
      .command('bulk')
      .description(
        'provision one device per line of a JSON-lines file (each line: the template\'s parameters), as ' +
          'StartThingRegistrationTask does from S3; shows progress, prints a summary, and resumes a killed run when started again',
      )
      .argument('<file>', 'JSON-lines file, one object of template parameters per line')
      .requiredOption('--template <name|file>', 'a provisioning template\'s name, or a file holding a template body')
      .option('--batch <lines>', 'lines per request to kiot', String(DEFAULT_BULK_BATCH))
      .option('--results <file>', 'where result lines go (default: the file\'s name with .results.jsonl for .jsonl)')
      .option('--errors <file>', 'where error lines go (default: the file\'s name with .errors.jsonl for .jsonl)')
      .option('--restart', 'ignore the progress of an earlier run of this file and start over'),
  ).action(async (file: string, options: BulkOptions) => {
    try {
      io.setExitCode(await bulk(file, options, io));
    } catch (err) {
      io.stderr.write(`kiot provision bulk: ${(err as Error).message}\n`);
      io.setExitCode(1);
    }
  });
}
