import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Lowercase hex SHA-256 of a UTF-8 string: the only form in which node tokens are stored. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** A new random bearer token (256 bits, URL-safe) and the hash that goes in the config. */
export function mintToken(): { token: string; sha256: string } {
  const token = `fo_${randomBytes(32).toString('base64url')}`;
  return { token, sha256: sha256Hex(token) };
}

// Compared against when the node is unknown, so that an unknown node and a wrong token
// take the same path and the same time.
const UNKNOWN_NODE_HASH = sha256Hex(randomBytes(32).toString('hex'));

/**
 * Constant-time check of a presented token against a stored hash. Hashing first makes
 * both sides 32 bytes, so `timingSafeEqual` never sees different lengths.
 */
export function tokenMatches(presented: string, storedSha256: string | undefined): boolean {
  const expected = Buffer.from(storedSha256 ?? UNKNOWN_NODE_HASH, 'hex');
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual) && storedSha256 !== undefined;
}
