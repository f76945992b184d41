import { expect, test } from 'vitest';
import { pushFrames, type FrameError } from './framer.js';

/** A sink that records frames and errors. */
function sink() {
  const frames: string[] = [];
  const errors: FrameError[] = [];
  return { frames, errors, onFrame: (f: Buffer) => frames.push(f.toString('hex')) > 0, onFrameError: (e: FrameError) => void errors.push(e) };
}

const PINGREQ = Buffer.from([0xc0, 0x00]);
/** A PUBLISH with a 200-byte remaining length (two length bytes). */
const LONG = Buffer.concat([Buffer.from([0x30, 0xc8, 0x01]), Buffer.alloc(200, 7)]);

test('frames cut across chunks come out whole; what is left over is handed back to be passed in next time', () => {
  const s = sink();
  const stream = Buffer.concat([PINGREQ, LONG, PINGREQ]);
  let pending: Buffer | undefined;
  // One byte at a time: every split, in the length bytes and in the body.
  for (let i = 0; i < stream.length; i++) pending = pushFrames(pending, stream.subarray(i, i + 1), 1024, s);
  expect(pending).toBeUndefined();
  expect(s.frames).toEqual([PINGREQ.toString('hex'), LONG.toString('hex'), PINGREQ.toString('hex')]);
  // Two whole frames and half of a third in one chunk.
  const t = sink();
  pending = pushFrames(undefined, Buffer.concat([PINGREQ, PINGREQ, LONG.subarray(0, 50)]), 1024, t);
  expect(t.frames).toHaveLength(2);
  expect(pending?.length).toBe(50);
  expect(pushFrames(pending, LONG.subarray(50), 1024, t)).toBeUndefined();
  expect(t.frames[2]).toBe(LONG.toString('hex'));
  expect(t.errors).toEqual([]);
});

test('a frame over the limit or a remaining length over four bytes is refused, and nothing is kept', () => {
  const s = sink();
  expect(pushFrames(undefined, LONG.subarray(0, 3), 100, s)).toBeUndefined();
  expect(s.errors).toEqual(['too-large']);
  const t = sink();
  expect(pushFrames(undefined, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 1024, t)).toBeUndefined();
  expect(t.errors).toEqual(['malformed']);
});

test('framing stops when the sink says so', () => {
  const frames: Buffer[] = [];
  const left = pushFrames(undefined, Buffer.concat([PINGREQ, PINGREQ]), 1024, { onFrame: (f) => (frames.push(f), false), onFrameError: () => undefined });
  expect(frames).toHaveLength(1);
  expect(left).toBeUndefined();
});
