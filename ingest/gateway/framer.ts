/**
 * Cuts a byte stream into whole MQTT packets before the codec sees them, so that the
 * gateway can refuse a packet by its declared size before buffering it (MQTT 5 §3.1.2.11.4
 * Maximum Packet Size) and can look at raw bytes the codec would have decoded lossily
 * (UTF-8 validity of topic names).
 *
 * Fixed header layout (MQTT 5 §2.1): byte 0 type and flags; then the remaining length as a
 * variable byte integer of 1 to 4 bytes (7 bits each, high bit = more follows).
 */
export type FrameError = 'malformed' | 'too-large';

/** Where whole frames go: an object rather than two closures, one less allocation per connection. */
export interface FrameSink {
  /** Returns false to stop framing (the connection closed). */
  onFrame(frame: Buffer): boolean;
  onFrameError(error: FrameError): void;
}

export class Framer {
  #pending: Buffer | undefined;

  constructor(
    private readonly maxPacketBytes: number,
    private readonly sink: FrameSink,
  ) {}

  /** Feeds bytes; calls `onFrame` for every whole packet. Stops early if `onFrame` returns false. */
  push(chunk: Buffer): void {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    let pos = 0;
    while (buf.length - pos >= 2) {
      let remaining = 0;
      let multiplier = 1;
      let i = pos + 1;
      let complete = false;
      for (; i < buf.length && i < pos + 5; i++) {
        const byte = buf[i]!;
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (i >= pos + 5) return this.sink.onFrameError('malformed');
        break; // length bytes not all here yet
      }
      const total = i + 1 - pos + remaining;
      if (total > this.maxPacketBytes) return this.sink.onFrameError('too-large');
      if (buf.length - pos < total) break;
      const frame = buf.subarray(pos, pos + total);
      pos += total;
      if (!this.sink.onFrame(frame)) return;
    }
    if (pos < buf.length) this.#pending = buf.subarray(pos);
  }
}

/** Offset of the variable header in a whole frame (after type byte and remaining length). */
export function variableHeaderOffset(frame: Buffer): number {
  let i = 1;
  while (i < 5 && (frame[i]! & 0x80) !== 0) i++;
  return i + 1;
}
