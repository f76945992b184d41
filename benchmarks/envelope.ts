/**
 * `npm run bench -- envelope`: encode+decode of one envelope with a 200-byte payload, the
 * work every message costs on the way onto and off the log. Baseline, measured in the same
 * run: JSON.stringify + JSON.parse of the same object with the payload as base64, including
 * the conversions to and from bytes that a log record needs, so both rows start from an
 * Envelope and end with an Envelope whose payload is a Buffer.
 */
import { randomBytes } from 'node:crypto';
import { createEnvelope, decodeEnvelope, encodeEnvelope, type Envelope } from '../core/index.js';
import { measure, type Benchmark, type BenchResult } from './report.js';

const PAYLOAD_BYTES = 200;
const OPS_PER_RUN = 1_000;
const MEASURE_MS = 2_000;

function sampleEnvelope(): Envelope {
  return createEnvelope({
    topic: 'factory/press-7/telemetry',
    payload: randomBytes(PAYLOAD_BYTES),
    qos: 1,
    clientId: 'press-7',
    thingName: 'press-7',
    principal: '3f1c2b7e9a4d4c1e8f005b6a7c8d9e0f3f1c2b7e9a4d4c1e8f005b6a7c8d9e0f',
    sourceAddress: '10.0.0.7:51234',
    userProperties: [{ name: 'unit', value: 'celsius' }],
  });
}

function jsonEncode(e: Envelope): Buffer {
  return Buffer.from(JSON.stringify({ ...e, payload: e.payload.toString('base64') }));
}

function jsonDecode(bytes: Buffer): Envelope {
  const raw = JSON.parse(bytes.toString()) as Omit<Envelope, 'payload'> & { payload: string };
  return { ...raw, payload: Buffer.from(raw.payload, 'base64') };
}

export const envelopeBenchmark: Benchmark = {
  name: 'envelope',
  summary: 'Avro envelope encode+decode (200-byte payload) against JSON with a base64 payload',
  async run(progress) {
    const envelope = sampleEnvelope();
    // Both codecs must give back what they were given, or the comparison means nothing.
    const viaAvro = decodeEnvelope(encodeEnvelope(envelope));
    const viaJson = jsonDecode(jsonEncode(envelope));
    if (!viaAvro.payload.equals(envelope.payload) || !viaJson.payload.equals(envelope.payload)) {
      throw new Error('envelope benchmark: a codec did not round-trip the payload');
    }
    const avroBytes = encodeEnvelope(envelope).length;
    const jsonBytes = jsonEncode(envelope).length;

    let sink = 0; // keeps the results observable so the work cannot be optimised away
    progress(`envelope: JSON baseline (${jsonBytes} bytes per record)`);
    const jsonRate = await measure(MEASURE_MS, OPS_PER_RUN, () => {
      for (let i = 0; i < OPS_PER_RUN; i++) sink += jsonDecode(jsonEncode(envelope)).payload.length;
    });
    progress(`envelope: Avro (${avroBytes} bytes per record)`);
    const avroRate = await measure(MEASURE_MS, OPS_PER_RUN, () => {
      for (let i = 0; i < OPS_PER_RUN; i++) sink += decodeEnvelope(encodeEnvelope(envelope)).payload.length;
    });
    progress('envelope: Avro encode only, decode only');
    const encoded = encodeEnvelope(envelope);
    const encodeRate = await measure(MEASURE_MS, OPS_PER_RUN, () => {
      for (let i = 0; i < OPS_PER_RUN; i++) sink += encodeEnvelope(envelope).length;
    });
    const decodeRate = await measure(MEASURE_MS, OPS_PER_RUN, () => {
      for (let i = 0; i < OPS_PER_RUN; i++) sink += decodeEnvelope(encoded).payload.length;
    });
    if (sink === 0) throw new Error('envelope benchmark: nothing was measured');

    const mb = (rate: number, bytes: number) => (rate * bytes) / 1e6;
    const baseline = 'envelope json encode+decode';
    const results: BenchResult[] = [
      { name: baseline, messagesPerSec: jsonRate, mbPerSec: mb(jsonRate, jsonBytes) },
      {
        name: 'envelope avro encode+decode',
        messagesPerSec: avroRate,
        mbPerSec: mb(avroRate, avroBytes),
        baseline,
        ratio: avroRate / jsonRate,
      },
      { name: 'envelope avro encode', messagesPerSec: encodeRate, mbPerSec: mb(encodeRate, avroBytes) },
      { name: 'envelope avro decode', messagesPerSec: decodeRate, mbPerSec: mb(decodeRate, avroBytes) },
    ];
    return results;
  },
};
