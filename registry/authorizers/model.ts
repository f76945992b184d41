/**
 * Custom authorizer records on the `iot.registry` store (`../store.ts`), beside certificates
 * and policies: AWS IoT's `AuthorizerDescription` plus the default-authorizer pointer.
 *
 * Key layout (values are JSON in state frames, schema version 1):
 *   authorizer/<authorizerName>   AuthorizerRecord
 *   kiot/default-authorizer       { authorizerName } (SetDefaultAuthorizer; deleted by ClearDefaultAuthorizer)
 */
import { z } from 'zod';

export type AuthorizerStatus = 'ACTIVE' | 'INACTIVE';

export interface AuthorizerRecord {
  readonly authorizerName: string;
  readonly authorizerFunctionArn: string;
  /** The query parameter / header / username parameter that carries the token (required when signing is on). */
  readonly tokenKeyName?: string;
  /** Key name → PEM public key (RSA, at least 2048 bits) that verifies token signatures. */
  readonly tokenSigningPublicKeys?: Readonly<Record<string, string>>;
  readonly status: AuthorizerStatus;
  readonly signingDisabled: boolean;
  readonly enableCachingForHttp: boolean;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Changes on every update: answers cached under an older generation are not used. */
  readonly generationId: string;
}

export interface DefaultAuthorizerRecord {
  readonly authorizerName: string;
}

export const AUTHORIZER_KEYS = {
  authorizer: (name: string) => `authorizer/${name}`,
  defaultAuthorizer: 'kiot/default-authorizer',
} as const;

export const AUTHORIZER_PREFIX = 'authorizer/';

export const authorizerRecordSchema: z.ZodType<AuthorizerRecord> = z.object({
  authorizerName: z.string().min(1),
  authorizerFunctionArn: z.string().min(1),
  tokenKeyName: z.string().min(1).optional(),
  tokenSigningPublicKeys: z.record(z.string(), z.string()).optional(),
  status: z.enum(['ACTIVE', 'INACTIVE']),
  signingDisabled: z.boolean(),
  enableCachingForHttp: z.boolean(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  generationId: z.string().min(1),
});

export const defaultAuthorizerSchema: z.ZodType<DefaultAuthorizerRecord> = z.object({ authorizerName: z.string().min(1) });

export type AuthorizerValue = AuthorizerRecord | DefaultAuthorizerRecord;

/** The schema of each authorizer key kind: entries ending in `/` are prefixes, the others whole keys. */
export const AUTHORIZER_SCHEMAS: readonly (readonly [prefix: string, schema: z.ZodType<AuthorizerValue>])[] = [
  [AUTHORIZER_KEYS.defaultAuthorizer, defaultAuthorizerSchema],
  [AUTHORIZER_PREFIX, authorizerRecordSchema],
];
