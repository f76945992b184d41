/**
 * A KafkaLog group member for the "killed before commit" test, run as a child process
 * (`vite-node kafka-crash-member.ts '<json>'`) so that the test can SIGKILL it.
 *
 * argv: `{"brokers":[...],"topic":"...","groupId":"...","settings":{...}}`. It consumes from
 * the earliest offset, commits only the first record of each partition it is given, and writes
 * one JSON line per event on stdout: `{"joined":true}`, `{"received":[{"partition","offset"}]}`
 * and `{"committed":{"partition","offset"}}`. It never exits on its own.
 */
import { silentLogger } from '../logger.js';
import { KafkaLog, type KafkaLogOptions } from '../log/kafka/kafka-log.js';

interface Args {
  brokers: string[];
  topic: string;
  groupId: string;
  settings: Partial<KafkaLogOptions>;
}

const args = JSON.parse(process.argv[process.argv.length - 1]!) as Args;
const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

const log = new KafkaLog({ ...args.settings, brokers: args.brokers, logger: silentLogger() });
const committedPartitions = new Set<number>();
const consumer = log.consumer({
  groupId: args.groupId,
  topics: [args.topic],
  startFrom: 'earliest',
  eachBatch: async (batch, member) => {
    say({ received: batch.records.map((r) => ({ partition: r.partition, offset: r.offset })) });
    const first = batch.records[0];
    if (first && !committedPartitions.has(batch.partition)) {
      committedPartitions.add(batch.partition);
      await member.commit([{ topic: batch.topic, partition: batch.partition, offset: first.offset + 1 }]);
      say({ committed: { partition: batch.partition, offset: first.offset + 1 } });
    }
  },
});
await consumer.start();
say({ joined: true });
