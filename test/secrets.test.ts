/**
 * The per-process secret cache (`secretCache`), with a fetch the test controls: what is
 * shared, what is forgotten, and what a caller's timeout ends.
 */
import { describe, expect, it } from 'vitest';
import { SecretReadError, secretCache } from '../shared/targets/secrets.js';

/** A fetch whose calls the test resolves or rejects by hand. */
function manualFetch() {
  const calls: Array<{ secretId: string; resolve: (v: string) => void; reject: (e: Error) => void }> = [];
  const fetch = (secretId: string) =>
    new Promise<string>((resolve, reject) => {
      calls.push({ secretId, resolve, reject });
    });
  return { calls, fetch };
}

describe('secretCache', () => {
  it('shares one fetch between concurrent reads and keeps the value, per secret', async () => {
    const { calls, fetch } = manualFetch();
    const secret = secretCache(fetch);

    const reads = [secret('a')(), secret('a')(), secret('b')()];
    expect(calls.map((c) => c.secretId)).toEqual(['a', 'b']);
    calls[0]?.resolve('value-a');
    calls[1]?.resolve('value-b');

    expect(await Promise.all(reads)).toEqual(['value-a', 'value-a', 'value-b']);
    expect(await secret('a')()).toBe('value-a');
    expect(calls).toHaveLength(2);
  });

  it('ends a caller whose signal aborts without ending the fetch the others wait on', async () => {
    const { calls, fetch } = manualFetch();
    const source = secretCache(fetch)('hook');
    const impatient = new AbortController();

    const cut = source(impatient.signal);
    const patient = source();
    impatient.abort(new Error('attempt timed out'));

    await expect(cut).rejects.toThrow('attempt timed out');
    calls[0]?.resolve('late');
    expect(await patient).toBe('late');
    expect(calls).toHaveLength(1);
  });

  it('names the secret (never a value) in a failure, and fetches again at the next read', async () => {
    const { calls, fetch } = manualFetch();
    const source = secretCache(fetch)('prod/hook');

    const first = source();
    calls[0]?.reject(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }));
    await expect(first).rejects.toBeInstanceOf(SecretReadError);
    await expect(first).rejects.toThrow(
      new SecretReadError('secret prod/hook not read: AccessDeniedException: User is not authorized'),
    );

    const second = source();
    expect(calls).toHaveLength(2);
    calls[1]?.resolve('now-readable');
    expect(await second).toBe('now-readable');
  });
});
