import type { Log, TopicPartitionOffset } from '../log/log.js';

/** `log`, with every commit its consumers make pushed onto `commits` (before it is made). */
export function recordingCommits(log: Log, commits: TopicPartitionOffset[]): Log {
  return Object.create(log, {
    consumer: {
      value: (options: Parameters<Log['consumer']>[0]) => {
        const consumer = log.consumer(options);
        const commit = consumer.commit.bind(consumer);
        consumer.commit = (offsets) => {
          commits.push(...offsets);
          return commit(offsets);
        };
        return consumer;
      },
    },
  }) as Log;
}
