/**
 * A child process for the crash test of bulk registration tasks (`../tasks-crash.test.ts`):
 *
 *   tsx task-child.ts <dataDir> <s3 endpoint> <bucket> <inputKey> <templateFile> <killAfterApplies>
 *
 * Opens kiot's registry, security and provisioning services on the embedded log in `dataDir`,
 * starts a task over `s3://bucket/inputKey` (checkpoints every 50 lines, 10 lines per registry
 * command), prints `task <id>`, and SIGKILLs itself once `killAfterApplies` lines have been
 * applied (mid-batch, before that batch's checkpoint).
 */
import { readFile } from 'node:fs/promises';
import { createS3Api } from '../../actions/index.js';
import { EmbeddedLog, silentLogger } from '../../core/index.js';
import { REGISTRY_BATCH_COMMAND, ThingRegistry, type BatchInput, createSecurityService, thingsDirectory, type RegistryStore } from '../../registry/index.js';
import { createProvisioningService } from '../service.js';

const [dataDir, endpoint, bucket, inputKey, templateFile, killAfter] = process.argv.slice(2);
const logger = silentLogger();
const log = await EmbeddedLog.open({ dataDir: dataDir!, logger });
const registry = await ThingRegistry.open({ log, logger, region: 'us-east-1', accountId: '123456789012', publishEvents: false });
const security = await createSecurityService({ region: undefined, accountId: '123456789012' }, { log, logger, things: thingsDirectory(registry), registryStore: registry.store }).start();

let applied = 0;
const limit = Number(killAfter);
// The registry store as the service sees it, counting the batches that land.
const counting: RegistryStore = Object.create(registry.store, {
  execute: {
    value: async (command: string, input: unknown) => {
      const out = await registry.store.execute(command, input);
      if (command === REGISTRY_BATCH_COMMAND) applied += (input as BatchInput).groups.length;
      if (applied >= limit) process.kill(process.pid, 'SIGKILL');
      return out;
    },
  },
});

const s3 = createS3Api({ endpoint: endpoint!, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, forcePathStyle: true });
const service = createProvisioningService(
  { region: 'us-east-1', accountId: '123456789012' },
  {
    log,
    logger,
    registry: counting,
    certificates: security.certificates,
    policies: security.policies,
    objects: {
      read: (b, k, start) => s3.getObjectStream({ bucket: b, key: k, start }),
      write: (b, k, body, contentType) => s3.putObject({ bucket: b, key: k, body: Buffer.from(body), contentType }, AbortSignal.timeout(10_000)),
      link: (b, k) => `${endpoint}/${b}/${k}`,
    },
    taskBatchLines: 50,
    taskLinesPerWrite: 10,
  },
);
const provisioning = await service.start();
const task = await provisioning.startTask({ templateBody: await readFile(templateFile!, 'utf8'), inputFileBucket: bucket!, inputFileKey: inputKey!, roleArn: 'arn:aws:iam::123456789012:role/bulk' });
process.stdout.write(`task ${task.taskId}\n`);
