import type { IncomingHttpHeaders } from 'node:http';
import type { ApiCaller } from './caller.js';

/**
 * One operation of an AWS-shaped REST API (e.g. `CreateThing`: POST /things/{thingName}), as
 * the AWS SDK clients send and parse it. The API router (`api/aws-router.ts`) matches the
 * method and path, verifies the SigV4 signature, parses the JSON body, calls `handle`, and
 * writes the result as JSON with `successStatus`. A PlatformError thrown by `handle` is
 * turned into AWS's error shape by `api/aws-errors.ts` from its code.
 */
export interface AwsOperation {
  /** The AWS operation name, e.g. `CreateThing`. */
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The REST path template with `{name}` (and greedy `{name+}`) labels, as in the AWS API model. */
  readonly path: string;
  /** Default 200. */
  readonly successStatus?: number;
  /**
   * How the router treats the body: `'json'` (default) parses it (bad JSON is a
   * SerializationException); `'raw'` leaves `body` undefined and passes only `rawBody`, for
   * operations whose body is not JSON (e.g. the data plane's Publish).
   */
  readonly bodyFormat?: 'json' | 'raw';
  /**
   * Who may call it (see `api/caller.ts`). `'policy'` (default): administrator keys, and keys
   * whose policy allows `iot:<name>`. `'self'`: every signed caller reaches `handle`, which
   * checks `request.caller` itself (Publish: per topic). `'admin'`: administrator keys only.
   */
  readonly access?: 'policy' | 'self' | 'admin';
  handle(request: AwsRequest): Promise<unknown>;
}

export interface AwsRequest {
  /** Path labels, URL-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body (undefined when there is none). */
  readonly body: unknown;
  readonly headers: IncomingHttpHeaders;
  /** The access key that signed the request. */
  readonly accessKeyId: string;
  /** The body bytes as received (set by the router; empty when there is none). */
  readonly rawBody?: Buffer;
  /** The region the request was signed for (set by the router). */
  readonly region?: string;
  /** Who signed it and what they may do (set by the router). */
  readonly caller?: ApiCaller;
  /** `address:port` of the client (set by the router). */
  readonly remoteAddress?: string;
}
