// What the rest of the lab uses of the gate: the shapes of its control API, SigV4 signing for calls
// to it, and tokens a test signs itself. The gate itself runs as its own process (main.ts).
export type { Association } from './pod-identity';
export type { FaultSpec } from './faults';
export type { SigningCredentials } from './sigv4';
export { signedHeaders } from './sigv4';
export { forgeToken, signToken, tokenParts } from './test-tokens';
