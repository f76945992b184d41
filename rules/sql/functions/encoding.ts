/**
 * encode, decode, the hashing functions and newuuid (iot-sql-functions).
 */
import { createHash, randomUUID } from 'node:crypto';
import { toSqlString, type SqlValue } from '../values.js';
import { defineFunction, semanticError } from './define.js';
import { md2 } from './md2.js';
import type { SqlFunction } from './types.js';

/** Strict base64: what `decode` accepts. Anything else "cannot be decoded" and gives Null. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes `encode` encodes: a Buffer (a binary payload, which is what `encode(*, ...)`
 * receives when the payload is not JSON) as it is, anything else as the UTF-8 bytes of its
 * String conversion ("the result of the evaluation is converted to a string before it is
 * encoded"). For `encode(*, ...)` the compiler passes the raw payload Buffer whatever the
 * payload is (`payloadBytesArgs: [0]`), so the bytes the device sent are encoded exactly.
 */
function bytesOf(v: SqlValue): Buffer | undefined {
  if (Buffer.isBuffer(v)) return v;
  const s = toSqlString(v);
  return s === undefined ? undefined : Buffer.from(s, 'utf8');
}

const isBase64Scheme = (scheme: SqlValue): boolean => typeof scheme === 'string' && scheme.toLowerCase() === 'base64';

/**
 * decode(value, 'base64'): the decoded text parsed as JSON when it is a JSON document, else
 * the text itself; Null when the value is not valid base64.
 */
export function decodeBase64(value: SqlValue): SqlValue {
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : toSqlString(value);
  if (text === undefined) return undefined;
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact)) return null;
  const decoded = Buffer.from(compact, 'base64').toString('utf8');
  try {
    return JSON.parse(decoded) as SqlValue;
  } catch {
    return decoded;
  }
}

function hashFunction(name: string, digest: (data: Buffer) => Buffer): SqlFunction {
  return defineFunction({
    name,
    minArgs: 1,
    call: ([x]) => {
      const s = toSqlString(x);
      return s === undefined ? undefined : digest(Buffer.from(s, 'utf8')).toString('hex');
    },
  });
}

const nodeHash =
  (algorithm: string) =>
  (data: Buffer): Buffer =>
    createHash(algorithm).update(data).digest();

export const ENCODING_FUNCTIONS: readonly SqlFunction[] = [
  defineFunction({
    // decode(value, 'base64'). The guide's later 'proto' scheme takes six arguments and reads
    // a descriptor file from S3, which kiot has no equivalent for: it is refused at compile time.
    // Three to five arguments is neither form: a wrong number of arguments, so Undefined.
    name: 'decode',
    minArgs: 2,
    maxArgs: 6,
    validate: (argCount) => {
      if (argCount === 6) {
        throw semanticError('decode', "only the 'base64' scheme is supported; 'proto' needs S3 descriptor files, which kiot does not have");
      }
    },
    call: (args) => (args.length === 2 && isBase64Scheme(args[1]) ? decodeBase64(args[0]) : undefined),
  }),
  defineFunction({
    name: 'encode',
    minArgs: 2,
    // AWS: "Use * to encode the entire payload" -- the message's bytes, not its parsed JSON.
    payloadBytesArgs: [0],
    call: ([value, scheme]) => {
      if (!isBase64Scheme(scheme)) return undefined;
      return bytesOf(value)?.toString('base64');
    },
  }),
  hashFunction('md2', md2),
  hashFunction('md5', nodeHash('md5')),
  hashFunction('sha1', nodeHash('sha1')),
  hashFunction('sha224', nodeHash('sha224')),
  hashFunction('sha256', nodeHash('sha256')),
  hashFunction('sha384', nodeHash('sha384')),
  hashFunction('sha512', nodeHash('sha512')),
  // A random (version 4) UUID, as AWS returns.
  defineFunction({ name: 'newuuid', minArgs: 0, pure: false, call: () => randomUUID() }),
];
