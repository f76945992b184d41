/** Custom authorizers: their records and API (`authorizer-service.ts`) and the runtime devices authenticate with (`custom-auth.ts`). */
export { AuthorizerService } from './authorizer-service.js';
export { AUTHORIZER_COMMANDS } from './commands.js';
export { AUTHORIZER_KEYS, type AuthorizerRecord, type AuthorizerStatus } from './model.js';
export { parseAuthorizerAnswer, type AuthorizerAnswer } from './answer.js';
export {
  AUTHORIZER_TIMEOUT_MS,
  CustomAuthorizers,
  type CustomAuthOutcome,
  type CustomAuthProtocol,
  type CustomAuthRequest,
  type CustomAuthResult,
  type CustomAuthSession,
  type CustomAuthorizersDeps,
  type InvokeAuthorizerFunction,
  type TestInvokeRequest,
} from './custom-auth.js';
