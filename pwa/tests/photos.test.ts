import { afterEach, describe, expect, it } from 'vitest';
import { Api } from '../src/lib/api';
import { PhotoUploader, sha256Hex } from '../src/lib/photos';
import { closeAll, freshStore } from './helpers';

afterEach(closeAll);

function api(handler: (path: string, body: unknown) => Response): Api {
  return new Api({
    fetch: async (input, init) => handler(String(input), init?.body ? JSON.parse(String(init.body)) : null),
    auth: { tokens: async () => ({ accessToken: 'a', refreshToken: 'r' }), refreshed: async () => {}, expired: async () => {} },
  });
}

async function photo(store: ReturnType<typeof freshStore>, text: string): Promise<string> {
  const blob = new Blob([text], { type: 'image/jpeg' });
  const digest = await sha256Hex(blob);
  await store.addPhoto({ digest, blob, type: 'image/jpeg', state: 'pending', createdAt: 0 });
  return digest;
}

describe('photo uploads', () => {
  it('names a photo by the SHA-256 of its bytes', async () => {
    expect(await sha256Hex(new Blob(['abc']))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('uploads only what the server says is missing, and marks all as done', async () => {
    const store = freshStore();
    const a = await photo(store, 'a');
    const b = await photo(store, 'b');
    const sent: string[] = [];
    const up = new PhotoUploader(
      store,
      api((path, body) => {
        expect(path).toBe('/api/blobs/missing');
        expect((body as { hashes: string[] }).hashes.sort()).toEqual([a, b].sort());
        return Response.json({ missing: [b] });
      }),
      async () => 'a',
      async (_blob, digest) => {
        sent.push(digest);
      },
    );
    expect(await up.uploadPending()).toEqual({ uploaded: 1, failed: 0, unsupported: false });
    expect(sent).toEqual([b]);
    expect(await store.pendingPhotos()).toEqual([]);
  });

  it('keeps photos when the upload fails or the server has no photo service', async () => {
    const store = freshStore();
    await photo(store, 'x');
    const failing = new PhotoUploader(store, api(() => Response.json({ missing: [] }, { status: 200 })), async () => 'a', async () => {
      throw new Error('reset');
    });
    // Nothing missing: marked done without sending.
    expect((await failing.uploadPending()).uploaded).toBe(0);
    const store2 = freshStore();
    await photo(store2, 'y');
    const none = new PhotoUploader(store2, api(() => Response.json({ error: 'not_found' }, { status: 404 })), async () => 'a');
    expect((await none.uploadPending()).unsupported).toBe(true);
    expect(none.unsupported).toBe(true);
    expect((await store2.pendingPhotos()).length).toBe(1);
    const store3 = freshStore();
    const d = await photo(store3, 'z');
    const broken = new PhotoUploader(store3, api(() => Response.json({ missing: [d] })), async () => 'a', async () => {
      throw new Error('reset');
    });
    expect((await broken.uploadPending()).failed).toBe(1);
    expect((await store3.pendingPhotos()).length).toBe(1);
  });
});
