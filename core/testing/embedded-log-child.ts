/**
 * A child process for crash tests of the embedded log: it is SIGKILLed by the parent test.
 *
 *   tsx embedded-log-child.ts write <dataDir> <topic>
 *     appends batches forever; prints "acked <first> <last>" (sequence numbers) once each is durable.
 *   tsx embedded-log-child.ts consume <dataDir> <topic> <groupId> <commitUpTo>
 *     consumes from earliest; commits records whose sequence is < commitUpTo and prints
 *     "committed <seq>"; prints "seen <seq>" for every record.
 */
import { silentLogger } from '../logger.js';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';

const [mode, dataDir, topic, groupId, commitUpTo] = process.argv.slice(2);
const log = await EmbeddedLog.open({ dataDir: dataDir!, logger: silentLogger() });
await log.ensureTopic({ name: topic!, partitions: 2 });

if (mode === 'write') {
  let seq = 0;
  for (;;) {
    const first = seq;
    const records = Array.from({ length: 50 }, () => ({ key: `k${seq % 7}`, value: `seq-${seq++}-${'x'.repeat(300)}` }));
    await log.append(topic!, records);
    process.stdout.write(`acked ${first} ${seq - 1}\n`);
  }
} else if (mode === 'consume') {
  const limit = Number(commitUpTo);
  const consumer = log.consumer({
    groupId: groupId!,
    topics: [topic!],
    startFrom: 'earliest',
    eachBatch: async (batch, c) => {
      for (const record of batch.records) {
        const seq = Number(record.value!.toString().split('-')[1]);
        process.stdout.write(`seen ${seq}\n`);
        if (seq < limit) {
          await c.commit([{ topic: batch.topic, partition: batch.partition, offset: record.offset + 1 }]);
          process.stdout.write(`committed ${seq}\n`);
        }
      }
    },
  });
  await consumer.start();
  process.stdout.write('started\n');
}
