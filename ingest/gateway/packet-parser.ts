/**
 * mqtt-packet's parser, one for the whole gateway rather than one per connection. A parser
 * holds a buffer-list stream (a whole Duplex: two stream states, their buffers and callbacks,
 * about 2 KB) and its current packet; kept per connection they were the largest part of an
 * idle connection's memory. Frames reach it whole (framer.ts), so every parse starts and ends
 * with nothing buffered and nothing carries over between frames: one parser serves every
 * connection, told each time which protocol version applies and where the packet or error
 * goes. A parse that leaves bytes behind (it cannot, for a whole frame; defensively) gets a
 * fresh parser.
 */
import mqttPacket, { type Packet, type Parser } from 'mqtt-packet';

// Generated PUBLISH and acks take publish-codec.ts's path; what mqtt-packet still writes needs no
// table of 65,536 pre-built two-byte Buffers (6 MB of resident memory, built on first use).
mqttPacket.writeToStream.cacheNumbers = false;

/** Where a parsed packet or the parse error goes (a connection). */
export interface ParseTarget {
  onPacket(packet: Packet): void;
  onMalformed(err: Error): void;
}
/** mqtt-packet reads the protocol version of what it parses from `settings` (its typings leave the field out). */
type VersionedParser = Parser & { settings: unknown };

let target: ParseTarget | undefined;
let parser = newParser();

function newParser(): VersionedParser {
  const p = mqttPacket.parser() as VersionedParser;
  p.on('packet', (packet: Packet) => target?.onPacket(packet));
  p.on('error', (err: Error) => target?.onMalformed(err));
  return p;
}

/**
 * Parses one whole frame as MQTT `protocolVersion` (3, 4 or 5); `into.onPacket` or
 * `into.onMalformed` is called before this returns. Re-entrant: a handler may parse another
 * connection's frame.
 */
export function parseFrame(frame: Buffer, protocolVersion: number, into: ParseTarget): void {
  const outer = target;
  const current = parser;
  const settings = current.settings;
  target = into;
  current.settings = { protocolVersion };
  try {
    if (current.parse(frame) > 0 && parser === current) parser = newParser();
  } finally {
    current.settings = settings;
    target = outer;
  }
}
