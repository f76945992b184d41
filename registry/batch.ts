/**
 * `registry.batch`: groups of registry commands, each group all or nothing. Each step runs an
 * existing registry command (things, certificates, policies) over the store as the steps before
 * it left it; if a step breaks a rule, its group writes nothing (the other groups go on). Every
 * kept write goes to `iot.registry` in one append (one partition, one batch), events after them.
 * Provisioning (a template applied for one device) is what it is for: a thing, its
 * certificate, policies and attachments appear together or not at all, even if the process dies.
 *
 * `once` makes a batch idempotent for a caller that may run it again after a crash (a bulk
 * registration task resuming from its last checkpoint): key `kiot/once/<id>` remembers, per
 * sequence number at or after `keepFrom`, the caller's `memo`; a batch whose sequence number is
 * already there (or below the low-water mark) writes nothing and returns that memo instead.
 *
 * Limits: the attachment indexes (`SecurityStore`) steps read show the store before the batch,
 * so a step must not rely on an attachment an earlier step of the same batch made.
 */
import { z } from 'zod';
import { PlatformError, type AppendRecord, type ErrorCode, type Change, type CommandContext, type StateChange, type StateView, type StateWrite } from '../core/index.js';
import { registryCommand, type RegistryCommand } from './commands.js';
import type { RegistryValue } from './store.js';

export const REGISTRY_BATCH_COMMAND = 'registry.batch';

export interface BatchStep {
  /** A registry command's name (THING_COMMANDS, POLICY_COMMANDS, CERTIFICATE_COMMANDS). */
  readonly command: string;
  readonly input: unknown;
}

export interface BatchOnce {
  /** Names the marker key `kiot/once/<id>` (a task id). */
  readonly id: string;
  /** This batch's number within `id` (a line offset). */
  readonly seq: number;
  /** Every sequence number below this one is settled: forget them (the low-water mark rises to it). */
  readonly keepFrom: number;
  /** What to return to a later run of the same sequence number (JSON). */
  readonly memo: unknown;
}

/** One all-or-nothing unit of a batch (one device's resources). */
export interface BatchGroup {
  readonly steps: readonly BatchStep[];
  readonly once?: BatchOnce;
}

/**
 * Groups are independent: each one's steps land together or not at all, and a group that fails
 * leaves the others (later groups see the writes of earlier ones that succeeded). One append
 * carries every group's writes, so many devices cost one registry command.
 */
export interface BatchInput {
  readonly groups: readonly BatchGroup[];
}

export type BatchGroupResult =
  | { readonly ok: true; readonly replayed: false; readonly results: readonly unknown[] }
  | { readonly ok: true; readonly replayed: true; readonly memo: unknown }
  | { readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string; readonly details: Readonly<Record<string, unknown>> } };

export interface BatchResult {
  readonly groups: readonly BatchGroupResult[];
}

/** `kiot/once/<id>`: sequence numbers below `low` are done; `done` holds the memos of those at or above it. */
export interface OnceRecord {
  readonly low: number;
  readonly done: Readonly<Record<string, unknown>>;
}

export const ONCE_PREFIX = 'kiot/once/';
export const onceKey = (id: string): string => `${ONCE_PREFIX}${id}`;
export const onceRecordSchema: z.ZodType<OnceRecord> = z.object({ low: z.number().int().nonnegative(), done: z.record(z.string(), z.unknown()) });

/** A view of `base` with `writes` over it, revisions counted as the store counts them. */
function overlay(base: StateView<RegistryValue>): { view: StateView<RegistryValue>; apply(writes: readonly StateWrite<RegistryValue>[]): void } {
  const pending = new Map<string, { value: RegistryValue | null; revision: number }>();
  const view: StateView<RegistryValue> = {
    get: (key) => (pending.has(key) ? (pending.get(key)!.value ?? undefined) : base.get(key)),
    revision: (key) => pending.get(key)?.revision ?? base.revision(key),
    has: (key) => (pending.has(key) ? pending.get(key)!.value !== null : base.has(key)),
    *keys() {
      for (const key of base.keys()) if (!pending.has(key) || pending.get(key)!.value !== null) yield key;
      for (const [key, p] of pending) if (p.value !== null && !base.has(key)) yield key;
    },
    *entries() {
      for (const key of this.keys()) yield [key, this.get(key)!];
    },
    get size() {
      return [...this.keys()].length;
    },
    onChange: (listener: (change: StateChange<RegistryValue>) => void) => base.onChange(listener),
  };
  return {
    view,
    apply(writes) {
      for (const w of writes) pending.set(w.key, { value: w.value, revision: w.value === null ? 0 : view.revision(w.key) + 1 });
    },
  };
}

/** The batch command over the given registry commands (each step must name one of them). */
export function batchCommand(commands: readonly RegistryCommand<any, any>[]): RegistryCommand<BatchInput, BatchResult> {
  const byName = new Map(commands.map((c) => [c.name, c]));
  return registryCommand(REGISTRY_BATCH_COMMAND, (state, input: BatchInput, ctx: CommandContext): Change<RegistryValue, BatchResult> => {
    const outer = overlay(state);
    const writes: StateWrite<RegistryValue>[] = [];
    const appends: { topic: string; records: readonly AppendRecord[] }[] = [];
    // Each `once` id's marker, read once and written once per batch, however many groups use it.
    const markers = new Map<string, { low: number; done: Record<string, unknown> }>();
    const markerOf = (id: string) => {
      let m = markers.get(id);
      if (!m) {
        const stored = state.get(onceKey(id)) as OnceRecord | undefined;
        m = { low: stored?.low ?? 0, done: { ...(stored?.done ?? {}) } };
        markers.set(id, m);
      }
      return m;
    };
    const groups = input.groups.map((group): BatchGroupResult => {
      const { once } = group;
      if (once) {
        const marker = markerOf(once.id);
        if (once.seq < marker.low) return { ok: true, replayed: true, memo: null };
        if (Object.prototype.hasOwnProperty.call(marker.done, String(once.seq))) return { ok: true, replayed: true, memo: marker.done[String(once.seq)] };
      }
      // The group's steps run on an overlay of their own: kept only if every step succeeds.
      const inner = overlay(outer.view);
      const groupWrites: StateWrite<RegistryValue>[] = [];
      const groupAppends: { topic: string; records: readonly AppendRecord[] }[] = [];
      const results: unknown[] = [];
      try {
        group.steps.forEach((step, index) => {
          const command = byName.get(step.command);
          if (!command || command.name === REGISTRY_BATCH_COMMAND) throw new PlatformError('INTERNAL', `registry.batch step ${index}: no registry command ${step.command}`);
          const change = command.run(inner.view, step.input, ctx);
          if (change instanceof Promise) throw new PlatformError('INTERNAL', `registry.batch step ${index}: ${step.command} is asynchronous`);
          inner.apply(change.writes);
          groupWrites.push(...change.writes);
          groupAppends.push(...(change.appends ?? []));
          results.push(change.result);
        });
      } catch (err) {
        // A rule a step enforces (not found, exists, invalid) fails its group; anything else is a bug and fails the batch.
        if (!(err instanceof PlatformError) || err.code === 'INTERNAL') throw err;
        return { ok: false, error: { code: err.code, message: err.message, details: { ...err.details } } };
      }
      if (once) {
        const marker = markerOf(once.id);
        if (once.keepFrom > marker.low) {
          for (const seq of Object.keys(marker.done)) if (Number(seq) < once.keepFrom) delete marker.done[seq];
          marker.low = once.keepFrom;
        }
        marker.done[String(once.seq)] = once.memo ?? null;
      }
      outer.apply(groupWrites);
      writes.push(...groupWrites);
      appends.push(...groupAppends);
      return { ok: true, replayed: false, results };
    });
    for (const [id, marker] of markers) if (Object.keys(marker.done).length > 0 || marker.low > 0) writes.push({ key: onceKey(id), value: marker });
    return { result: { groups }, writes, appends };
  });
}

/** Forgets a finished `once` id (a tombstone for its marker). */
export const FORGET_ONCE_COMMAND = 'registry.forgetOnce';
export const forgetOnceCommand: RegistryCommand<{ id: string }, void> = registryCommand(FORGET_ONCE_COMMAND, (state, input: { id: string }) => ({
  result: undefined,
  writes: state.has(onceKey(input.id)) ? [{ key: onceKey(input.id), value: null }] : [],
}));
