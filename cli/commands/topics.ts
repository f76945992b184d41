/**
 * `kiot topics tail <topic>`: the last records of one of kiot's log topics, read through a
 * running kiot (`GET /kiot/topics/<topic>/records`; the embedded log is locked by the process
 * that runs it), oldest first; `--follow` keeps printing what arrives. For what no MQTT client
 * reads: an error action's topic, `iot.dead-letter`. Signed with SigV4 like `kiot rules list`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { apiClient, defaultEndpoint, describeFailure, withApiClientOptions, type ApiClientFlags } from './signed-request.js';
import { processIo, type CliIo } from './sql.js';

interface Shown {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: string;
  readonly key: string | null;
  readonly envelope?: { topic: string; qos: number; clientId?: string | null; payload?: string; payloadBase64?: string };
  readonly value?: string | null;
  readonly valueBase64?: string;
}

interface Page {
  readonly records: readonly Shown[];
  readonly next: string;
}

/** One line per record: time, partition/offset, then the MQTT topic and payload, or the raw value. */
export function formatRecord(r: Shown): string {
  const where = `${r.timestamp} ${r.partition}/${r.offset}`;
  if (r.envelope) return `${where} ${r.envelope.topic} ${r.envelope.payload ?? `base64:${r.envelope.payloadBase64}`}`;
  return `${where} key=${r.key ?? '-'} ${r.value ?? (r.valueBase64 ? `base64:${r.valueBase64}` : 'null')}`;
}

const FOLLOW_INTERVAL_MS = 1000;

export function register(program: Command, io: CliIo = processIo): void {
  const topics = program.command('topics').description("read kiot's log topics");
  withApiClientOptions(
    topics
      .command('tail')
      .description("print the last records of a log topic of a running kiot (GET /kiot/topics/<topic>/records), oldest first")
      .argument('<topic>', "log topic, e.g. iot.dead-letter or an error action's topic")
      .option('-n, --lines <count>', 'records per partition to start with', '20')
      .option('-f, --follow', 'keep printing records as they arrive (Ctrl-C stops)')
      .option('--json', 'print each record as a JSON line'),
  ).action(async (topic: string, flags: ApiClientFlags & { json?: boolean; follow?: boolean; lines: string }) => {
      if (!/^\d+$/.test(flags.lines) || Number(flags.lines) < 1 || Number(flags.lines) > 1000) {
        io.stderr.write(`kiot topics tail: --lines: expected 1 to 1000, not '${flags.lines}'\n`);
        io.setExitCode(2);
        return;
      }
      const endpoint = (flags.endpoint ?? defaultEndpoint()).replace(/\/+$/, '');
      const base = `/kiot/topics/${encodeURIComponent(topic)}/records?limit=${flags.lines}`;
      let from: string | undefined;
      let waiting = false;
      try {
        const api = await apiClient(flags);
        for (;;) {
          const res = await api.request('GET', from ? `${base}&from=${encodeURIComponent(from)}` : base);
          if (res.status === 404 && flags.follow && !from) {
            // An error action's topic exists from its first message on: wait for it.
            if (!waiting) io.stderr.write(`kiot topics tail: ${topic} has no records yet; waiting for them\n`);
            waiting = true;
            await delay(FOLLOW_INTERVAL_MS);
            continue;
          }
          if (res.status !== 200) throw new Error(describeFailure(res));
          const page = JSON.parse(res.body) as Page;
          for (const r of page.records) io.stdout.write(`${flags.json ? JSON.stringify(r) : formatRecord(r)}\n`);
          if (!flags.follow) return;
          from = page.next;
          await delay(FOLLOW_INTERVAL_MS);
        }
      } catch (err) {
        const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
        io.stderr.write(`kiot topics tail: cannot read ${topic} at ${endpoint}: ${cause}\n`);
        io.setExitCode(1);
      }
    });
}
