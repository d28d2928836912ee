import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mintToken, sha256Hex, tokenMatches } from '../shared/tokens.js';

describe('mintToken', () => {
  it('returns the SHA-256 of the token it minted, as lowercase hex', () => {
    const { token, sha256 } = mintToken();

    expect(sha256).toBe(sha256Hex(token));
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('mints a URL-safe token that fits in a header or a curl command line unquoted', () => {
    expect(mintToken().token).toMatch(/^fo_[A-Za-z0-9_-]{43}$/);
  });

  it('mints a different token on every call', () => {
    const tokens = new Set(Array.from({ length: 50 }, () => mintToken().token));

    expect(tokens.size).toBe(50);
  });
});

describe('tokenMatches', () => {
  const { token, sha256 } = mintToken();

  it('accepts the token whose hash is stored', () => {
    expect(tokenMatches(token, sha256)).toBe(true);
  });

  it('rejects a different token', () => {
    expect(tokenMatches(mintToken().token, sha256)).toBe(false);
    expect(tokenMatches(`${token}x`, sha256)).toBe(false);
    expect(tokenMatches('', sha256)).toBe(false);
  });

  it('rejects the stored hash itself presented as the token', () => {
    expect(tokenMatches(sha256, sha256)).toBe(false);
  });

  it.each([
    ['the empty string', ''],
    ['a real token', token],
    ['the hash of a random string', sha256Hex(randomBytes(32).toString('hex'))],
  ])('rejects %s when no hash is stored (unknown node)', (_, presented) => {
    expect(tokenMatches(presented, undefined)).toBe(false);
  });

  it('rejects, without throwing, when the stored hash is malformed', () => {
    expect(tokenMatches(token, 'not-hex')).toBe(false);
    expect(tokenMatches(token, sha256.slice(0, 62))).toBe(false);
  });
});
