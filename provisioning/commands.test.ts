/** The provisioning commands as pure functions over an in-memory view (no log). */
import { describe, expect, test } from 'vitest';
import { PlatformError, type CommandContext, type CommandDefinition, type StateChange, type StateView } from '../core/index.js';
import { EMPTY_CHECKPOINT, PROVISIONING_COMMANDS, provisioningCommands } from './commands.js';
import type { ProvisioningValue, TaskRecord, TemplateRecord } from './model.js';

/** A map as a StateView, and `run(name, input)` that applies a command's writes to it. */
function memoryStore() {
  const records = new Map<string, { value: ProvisioningValue; revision: number }>();
  const view: StateView<ProvisioningValue> = {
    get: (k) => records.get(k)?.value,
    revision: (k) => records.get(k)?.revision ?? 0,
    has: (k) => records.has(k),
    keys: () => records.keys(),
    *entries() {
      for (const [k, r] of records) yield [k, r.value];
    },
    get size() {
      return records.size;
    },
    onChange: (_listener: (change: StateChange<ProvisioningValue>) => void) => () => undefined,
  };
  let now = 1_000;
  const ctx: CommandContext = { get now() { return now; }, newId: () => 'id' };
  const byName = new Map(provisioningCommands.map((c) => [c.name, c as CommandDefinition<ProvisioningValue, unknown, unknown>]));
  const run = async <R>(name: string, input: unknown): Promise<R> => {
    now += 1_000;
    const change = await byName.get(name)!.run(view, input, ctx);
    for (const w of change.writes) {
      if (w.value === null) records.delete(w.key);
      else records.set(w.key, { value: w.value, revision: (records.get(w.key)?.revision ?? 0) + 1 });
    }
    return change.result as R;
  };
  return { run, view };
}

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (err: unknown) => (err instanceof PlatformError ? err.code : 'other'),
  );

const create = { templateName: 't', templateBody: '{"v":1}', enabled: true, provisioningRoleArn: 'r', type: 'FLEET_PROVISIONING' };

describe('templates', () => {
  test('versions: numbered from 1, at most 5, the default cannot be deleted', async () => {
    const { run } = memoryStore();
    const t = await run<TemplateRecord>(PROVISIONING_COMMANDS.createTemplate, create);
    expect([t.defaultVersionId, t.versions.map((v) => v.versionId)]).toEqual([1, [1]]);
    expect(await codeOf(run(PROVISIONING_COMMANDS.createTemplate, create))).toBe('REGISTRY_ALREADY_EXISTS');
    const v2 = await run<{ template: TemplateRecord }>(PROVISIONING_COMMANDS.createVersion, { templateName: 't', templateBody: '{"v":2}', setAsDefault: true });
    expect(v2.template.defaultVersionId).toBe(2);
    expect(await codeOf(run(PROVISIONING_COMMANDS.deleteVersion, { templateName: 't', versionId: 2 }))).toBe('REGISTRY_DELETE_CONFLICT');
    await run(PROVISIONING_COMMANDS.deleteVersion, { templateName: 't', versionId: 1 });
    for (let i = 0; i < 4; i++) await run(PROVISIONING_COMMANDS.createVersion, { templateName: 't', templateBody: '{}', setAsDefault: false });
    expect(await codeOf(run(PROVISIONING_COMMANDS.createVersion, { templateName: 't', templateBody: '{}', setAsDefault: false }))).toBe('REGISTRY_VERSIONS_LIMIT');
    // Version ids are never reused after a delete.
    const updated = await run<TemplateRecord>(PROVISIONING_COMMANDS.updateTemplate, { templateName: 't', defaultVersionId: 6, enabled: false });
    expect([updated.versions.map((v) => v.versionId), updated.defaultVersionId, updated.enabled]).toEqual([[2, 3, 4, 5, 6], 6, false]);
    expect(await codeOf(run(PROVISIONING_COMMANDS.updateTemplate, { templateName: 't', defaultVersionId: 1 }))).toBe('REGISTRY_NOT_FOUND');
    const hooked = await run<TemplateRecord>(PROVISIONING_COMMANDS.updateTemplate, { templateName: 't', preProvisioningHook: { targetArn: 'a', payloadVersion: 'p' } });
    expect(hooked.preProvisioningHook).toEqual({ targetArn: 'a', payloadVersion: 'p' });
    expect((await run<TemplateRecord>(PROVISIONING_COMMANDS.updateTemplate, { templateName: 't', removePreProvisioningHook: true })).preProvisioningHook).toBeUndefined();
    await run(PROVISIONING_COMMANDS.deleteTemplate, { templateName: 't' });
    expect(await codeOf(run(PROVISIONING_COMMANDS.deleteTemplate, { templateName: 't' }))).toBe('REGISTRY_NOT_FOUND');
  });
});

describe('tasks', () => {
  const start = { taskId: 'k', templateBody: '{}', inputFileBucket: 'b', inputFileKey: 'i', roleArn: 'r' };
  const at = (line: number) => ({ ...EMPTY_CHECKPOINT, line, byte: line * 10, successCount: line });

  test('a checkpoint never moves back, and an ended task stays ended', async () => {
    const { run } = memoryStore();
    await run(PROVISIONING_COMMANDS.startTask, start);
    await run(PROVISIONING_COMMANDS.checkpointTask, { taskId: 'k', checkpoint: at(500) });
    const stale = await run<TaskRecord>(PROVISIONING_COMMANDS.checkpointTask, { taskId: 'k', checkpoint: at(100) });
    expect(stale.checkpoint.line).toBe(500);
    const done = await run<TaskRecord>(PROVISIONING_COMMANDS.checkpointTask, { taskId: 'k', checkpoint: at(900), status: 'Completed' });
    expect(done.status).toBe('Completed');
    const after = await run<TaskRecord>(PROVISIONING_COMMANDS.checkpointTask, { taskId: 'k', checkpoint: at(1000) });
    expect([after.status, after.checkpoint.line]).toEqual(['Completed', 900]);
    expect(await codeOf(run(PROVISIONING_COMMANDS.stopTask, { taskId: 'k' }))).toBe('REGISTRY_INVALID');
  });

  test('stop: InProgress becomes Cancelling, and Cancelled when the runner says so (even if it says Completed)', async () => {
    const { run } = memoryStore();
    await run(PROVISIONING_COMMANDS.startTask, start);
    expect((await run<TaskRecord>(PROVISIONING_COMMANDS.stopTask, { taskId: 'k' })).status).toBe('Cancelling');
    expect((await run<TaskRecord>(PROVISIONING_COMMANDS.checkpointTask, { taskId: 'k', checkpoint: at(10) })).status).toBe('Cancelling');
    expect((await run<TaskRecord>(PROVISIONING_COMMANDS.checkpointTask, { taskId: 'k', checkpoint: at(20), status: 'Completed' })).status).toBe('Cancelled');
    expect(await codeOf(run(PROVISIONING_COMMANDS.startTask, start))).toBe('REGISTRY_ALREADY_EXISTS');
  });
});
