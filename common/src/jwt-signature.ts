// JWT signatures as Kubernetes' service-account issuers make them (RS256/384/512, ES256/384), for
// the programs that check tokens themselves: never `none` or HMAC, whatever a token's header says.
import crypto from 'node:crypto';

const ALGORITHMS: Record<string, { hash: string; dsaEncoding?: 'ieee-p1363' }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsaEncoding: 'ieee-p1363' },
};

/** Whether a token's `alg` is one a signature is checked for (any other never verifies). */
export function jwtAlgorithmAccepted(alg: string): boolean {
  return Object.hasOwn(ALGORITHMS, alg);
}

/**
 * Whether `signature` (the token's third part, decoded) signs `signingInput` (`<header>.<payload>`
 * as the token has them) with `key` under `alg`; false for any other algorithm, or a key that
 * does not fit it.
 */
export function jwtSignatureValid(
  alg: string,
  signingInput: Buffer,
  signature: Buffer,
  key: crypto.KeyObject,
): boolean {
  const algorithm = jwtAlgorithmAccepted(alg) ? ALGORITHMS[alg] : undefined;
  if (!algorithm) return false;
  try {
    return crypto.verify(
      algorithm.hash,
      signingInput,
      algorithm.dsaEncoding ? { key, dsaEncoding: algorithm.dsaEncoding } : key,
      signature,
    );
  } catch {
    return false;
  }
}
