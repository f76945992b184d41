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

/** The largest packet MQTT can frame: a type byte, four bytes of remaining length, 268,435,455 bytes. */
export const MQTT_MAX_PACKET_BYTES = 268_435_460;

/** Where whole frames go: an object rather than two closures, one less allocation per connection. */
export interface FrameSink {
  /** Returns false to stop framing (the connection closed). */
  onFrame(frame: Buffer): boolean;
  onFrameError(error: FrameError): void;
}

/**
 * Feeds bytes to `sink`: `pending` is what the previous call left (a packet not yet whole), and
 * what this one leaves is returned, for the caller to keep and pass in next time (a function over
 * the caller's field rather than an object per connection: an idle connection's memory, issue 12).
 * Calls `onFrame` for every whole packet; stops early if `onFrame` returns false or a frame is
 * refused.
 */
export function pushFrames(pending: Buffer | undefined, chunk: Buffer, maxPacketBytes: number, sink: FrameSink): Buffer | undefined {
  const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
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
      if (i >= pos + 5) {
        sink.onFrameError('malformed');
        return undefined;
      }
      break; // length bytes not all here yet
    }
    const total = i + 1 - pos + remaining;
    if (total > maxPacketBytes) {
      sink.onFrameError('too-large');
      return undefined;
    }
    if (buf.length - pos < total) break;
    const frame = buf.subarray(pos, pos + total);
    pos += total;
    if (!sink.onFrame(frame)) return undefined;
  }
  return pos < buf.length ? buf.subarray(pos) : undefined;
}

/** Offset of the variable header in a whole frame (after type byte and remaining length). */
export function variableHeaderOffset(frame: Buffer): number {
  let i = 1;
  while (i < 5 && (frame[i]! & 0x80) !== 0) i++;
  return i + 1;
}
