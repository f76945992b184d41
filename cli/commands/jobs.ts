/**
 * `kiot jobs`: AWS IoT Jobs on a running kiot, through its control plane (the same signed
 * requests `aws iot create-job` ... sends): create a job for things and thing groups by name,
 * list jobs, describe one with its executions, cancel and delete. See jobs/README.md.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { apiClient, describeFailure, withApiClientOptions, type ApiClientFlags } from './signed-request.js';
import { processIo, type CliIo } from './sql.js';

type Client = Awaited<ReturnType<typeof apiClient>>;

/** A failed call, said as one line by the command that made it. */
class CallFailed extends Error {}

async function call(client: Client, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const res = await client.request(method, path, body === undefined ? undefined : JSON.stringify(body));
  if (res.status !== 200) throw new CallFailed(describeFailure(res));
  return res.body ? (JSON.parse(res.body) as Record<string, any>) : {};
}

/** Every item of a list operation (`member` of each page), following nextToken. */
async function allPages(client: Client, path: string, member: string, query: Record<string, string> = {}): Promise<Record<string, any>[]> {
  const items: Record<string, any>[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call(client, 'GET', `${path}?${new URLSearchParams({ maxResults: '250', ...query, ...(nextToken ? { nextToken } : {}) })}`);
    items.push(...(page[member] as Record<string, any>[]));
    nextToken = page['nextToken'] as string | undefined;
  } while (nextToken);
  return items;
}

/** Columns padded to their widest cell, the last one left as it is. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

const time = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : '-');
const collect = (value: string, previous: string[] = []) => [...previous, value];
const path = (...segments: string[]) => `/${segments.map(encodeURIComponent).join('/')}`;

/** The job document: JSON text as given, or the file it names. */
async function documentOf(text: string): Promise<string> {
  return text.trimStart().startsWith('{') ? text : readFile(text, 'utf8');
}

export function register(program: Command, io: CliIo = processIo): void {
  const jobs = program.command('jobs').description('work with AWS IoT Jobs on a running kiot');
  /**
   * An action (commander passes the arguments, the options, then the command) that runs `body`
   * with a client and its options; a failed call or unreadable file is one line on stderr and
   * exit code 1.
   */
  const run =
    <O>(name: string, body: (client: Client, options: O & ApiClientFlags, jobId: string) => Promise<string>) =>
    async (...args: unknown[]) => {
      const options = args[args.length - 2] as O & ApiClientFlags;
      try {
        io.stdout.write(`${await body(await apiClient(options), options, args[0] as string)}\n`);
      } catch (err) {
        io.stderr.write(`kiot jobs ${name}: ${(err as Error).message}\n`);
        io.setExitCode(1);
      }
    };

  withApiClientOptions(
    jobs
      .command('create')
      .description('create a job (CreateJob) for things and thing groups, nested groups included')
      .argument('<jobId>', 'job id')
      .requiredOption('--document <json|file>', 'the job document: JSON text, or a file holding it')
      .option('--thing <name>', 'a target thing (repeatable)', collect)
      .option('--group <name>', 'a target thing group (repeatable)', collect)
      .option('--description <text>', 'description'),
  ).action(
    run<{ document: string; thing?: string[]; group?: string[]; description?: string }>('create', async (client, options, jobId) => {
      // The targets' ARNs as the registry has them (which also says when one does not exist).
      const things = await Promise.all((options.thing ?? []).map(async (t) => (await call(client, 'GET', path('things', t)))['thingArn'] as string));
      const groups = await Promise.all((options.group ?? []).map(async (g) => (await call(client, 'GET', path('thing-groups', g)))['thingGroupArn'] as string));
      if (things.length + groups.length === 0) throw new Error('name at least one --thing or --group');
      const body = { targets: [...things, ...groups], document: await documentOf(options.document), ...(options.description ? { description: options.description } : {}) };
      const created = await call(client, 'PUT', path('jobs', jobId), body);
      return `created ${created['jobArn']}`;
    }),
  );

  withApiClientOptions(
    jobs
      .command('list')
      .description('list jobs (ListJobs)')
      .option('--status <status>', 'IN_PROGRESS, CANCELED, COMPLETED or DELETION_IN_PROGRESS')
      .option('--json', 'print the jobs as JSON'),
  ).action(
    run<{ status?: string; json?: boolean }>('list', async (client, options) => {
      const listed = await allPages(client, '/jobs', 'jobs', options.status ? { status: options.status } : {});
      if (options.json) return JSON.stringify(listed, null, 2);
      return table(['JOB', 'STATUS', 'SELECTION', 'CREATED'], listed.map((j) => [j['jobId'], j['status'], j['targetSelection'], time(j['createdAt'])]));
    }),
  );

  withApiClientOptions(
    jobs
      .command('describe')
      .description("a job (DescribeJob) and its executions (ListJobExecutionsForJob)")
      .argument('<jobId>', 'job id')
      .option('--json', 'print the job and its executions as JSON'),
  ).action(
    run<{ json?: boolean }>('describe', async (client, options, jobId) => {
      const { job } = (await call(client, 'GET', path('jobs', jobId))) as { job: Record<string, any> };
      const executions = await allPages(client, path('jobs', jobId, 'things'), 'executionSummaries');
      if (options.json) return JSON.stringify({ job, executions }, null, 2);
      const counts = Object.entries(job['jobProcessDetails'] ?? {})
        .filter(([k, v]) => k.startsWith('numberOf') && v !== 0)
        .map(([k, v]) => `${k.replace(/^numberOf|Things$/g, '')} ${v}`);
      const rows = executions.map((e) => [String(e['thingArn']).replace(/^.*:thing\//, ''), e['jobExecutionSummary']['status'], String(e['jobExecutionSummary']['executionNumber']), time(e['jobExecutionSummary']['lastUpdatedAt'])]);
      return [`${job['jobId']}  ${job['status']}  ${job['targetSelection']}  created ${time(job['createdAt'])}`, `executions: ${counts.join(', ') || 'none'}`, table(['THING', 'STATUS', 'NUMBER', 'UPDATED'], rows)].join('\n');
    }),
  );

  withApiClientOptions(
    jobs
      .command('cancel')
      .description('cancel a job (CancelJob): its QUEUED executions, and IN_PROGRESS ones with --force')
      .argument('<jobId>', 'job id')
      .option('--force', 'cancel IN_PROGRESS executions too')
      .option('--reason-code <code>', 'reason code')
      .option('--comment <text>', 'comment'),
  ).action(
    run<{ force?: boolean; reasonCode?: string; comment?: string }>('cancel', async (client, options, jobId) => {
      await call(client, 'PUT', `${path('jobs', jobId, 'cancel')}${options.force ? '?force=true' : ''}`, { ...(options.reasonCode ? { reasonCode: options.reasonCode } : {}), ...(options.comment ? { comment: options.comment } : {}) });
      return `canceled ${jobId}`;
    }),
  );

  withApiClientOptions(
    jobs
      .command('delete')
      .description('delete a job and its executions (DeleteJob); an IN_PROGRESS job needs --force')
      .argument('<jobId>', 'job id')
      .option('--force', 'delete a job that is still IN_PROGRESS'),
  ).action(
    run<{ force?: boolean }>('delete', async (client, options, jobId) => {
      await call(client, 'DELETE', `${path('jobs', jobId)}${options.force ? '?force=true' : ''}`);
      return `deleted ${jobId}`;
    }),
  );
}
