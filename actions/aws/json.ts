/**
 * Rule output as JSON. IoT SQL values may hold Buffers (a non-JSON payload is Binary);
 * JSON has no bytes, so they become base64 strings, as AWS IoT's `encode(*, 'base64')` would
 * spell them, instead of Node's `{"type":"Buffer","data":[...]}`.
 */
export function toJsonSafe(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonSafe(v);
    return out;
  }
  return value;
}

/** The bytes an object-store action writes: a Binary output as is, anything else as JSON text. */
export function outputBytes(output: unknown, payload: Buffer): { body: Buffer; contentType: string } {
  if (Buffer.isBuffer(output)) return { body: output, contentType: 'application/octet-stream' };
  // A rule whose output is Undefined still fired; write the message as it came.
  if (output === undefined) return { body: payload, contentType: 'application/octet-stream' };
  return { body: Buffer.from(JSON.stringify(toJsonSafe(output))), contentType: 'application/json' };
}

/**
 * The `batch_mode` of firehose, iot_events and iot_analytics: an array output is split into its
 * elements (at most `max`), each its own record; without batch_mode the output is one record.
 * A string says why the output cannot be split.
 */
export function batchElements(output: unknown, batchMode: boolean | undefined, max: number): readonly unknown[] | string {
  if (!batchMode) return [output];
  if (!Array.isArray(output)) return 'batch_mode needs the rule output to be an array';
  if (output.length > max) return `batch_mode: the output has ${output.length} elements, more than ${max}`;
  return output;
}
