import { describe, expect, test } from 'vitest';
import { silentLogger, TOPIC_SPECS, TOPICS, type Log, type TopicSpec } from '../../core/index.js';
import { KafkaProducers } from './producers.js';

/** A log that records what was ensured and appended; nothing else is called. */
function recordingLog() {
  const ensured: TopicSpec[] = [];
  const appended: string[] = [];
  const log = {
    ensureTopic: async (spec: TopicSpec) => void ensured.push(spec),
    append: async (topic: string) => void appended.push(topic),
  } as unknown as Log;
  return { log, ensured, appended };
}

describe('KafkaProducers', () => {
  test('a kiot topic is ensured as the catalogue specifies it, once per log', async () => {
    const { log, ensured, appended } = recordingLog();
    const producers = new KafkaProducers(log, silentLogger());
    await producers.append(log, TOPICS.deadLetter, [{ key: 'k', value: Buffer.from('v') }]);
    await producers.append(log, TOPICS.deadLetter, [{ key: 'k', value: Buffer.from('v') }]);
    expect(ensured).toEqual([TOPIC_SPECS.deadLetter]);
    expect(appended).toEqual([TOPICS.deadLetter, TOPICS.deadLetter]);
  });

  test("any other topic is ensured by name, with the log's defaults", async () => {
    const { log, ensured } = recordingLog();
    await new KafkaProducers(log, silentLogger()).append(log, 'plant-telemetry', []);
    expect(ensured).toEqual([{ name: 'plant-telemetry' }]);
  });
});
