import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionStore, deviceName } from '../src/lib/session';
import type { AuthResponse } from '../src/lib/types';

const auth: AuthResponse = {
  access_token: 'access-1',
  refresh_token: 'refresh-1',
  expires_in: 900,
  user: {
    id: 'u1',
    username: 'lisi',
    name: '李四',
    role: 'cadre',
    areas: [{ id: 'v1', name: '东风村', level: 'village', parent_id: 't1' }],
  },
};

let n = 0;
const opened: SessionStore[] = [];
/** A store on a fresh database, as after installing the app. */
function freshStore(name = `fangzha-test-${++n}`): SessionStore {
  const s = new SessionStore(name);
  opened.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

describe('SessionStore', () => {
  it('starts logged out', async () => {
    expect(await freshStore().load()).toBeNull();
  });

  it('saves a session that a new instance (a reload) reads back', async () => {
    const name = `fangzha-test-${++n}`;
    const a = freshStore(name);
    const saved = await a.save(auth, 1_000_000);
    expect(saved.accessExpiresAt).toBe(1_000_000 + 900_000);
    await a.close();

    const b = freshStore(name);
    const loaded = await b.load();
    expect(loaded).toEqual({
      accessToken: 'access-1',
      refreshToken: 'refresh-1',
      accessExpiresAt: 1_900_000,
      user: auth.user,
      savedAt: 1_000_000,
    });
  });

  it('keeps client_id the same across reloads and logout', async () => {
    const name = `fangzha-test-${++n}`;
    const a = freshStore(name);
    const id = await a.clientId();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await a.clientId()).toBe(id);
    await a.save(auth);
    await a.clear();
    expect(await a.load()).toBeNull();
    expect(await a.clientId()).toBe(id);
    await a.close();

    const b = freshStore(name);
    expect(await b.load()).toBeNull();
    expect(await b.clientId()).toBe(id);
  });

  it('makes one client_id even when asked concurrently', async () => {
    const s = freshStore();
    const ids = await Promise.all([s.clientId(), s.clientId(), s.clientId()]);
    expect(new Set(ids).size).toBe(1);
  });

  it('updates the user of the stored session only', async () => {
    const s = freshStore();
    expect(await s.updateUser(auth.user)).toBeNull();
    expect(await s.load()).toBeNull();
    await s.save(auth);
    const moved = { ...auth.user, areas: [] };
    const next = await s.updateUser(moved);
    expect(next?.user.areas).toEqual([]);
    expect((await s.load())?.user.areas).toEqual([]);
    expect((await s.load())?.refreshToken).toBe('refresh-1');
  });

  it('gives the API client the stored tokens and stores refreshed ones', async () => {
    const s = freshStore();
    let expired = 0;
    const hooks = s.authHooks(() => expired++);
    expect(await hooks.tokens()).toBeNull();
    await s.save(auth);
    expect(await hooks.tokens()).toEqual({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    await hooks.refreshed({ ...auth, access_token: 'access-2', refresh_token: 'refresh-2' });
    expect((await s.load())?.refreshToken).toBe('refresh-2');
    const id = await s.clientId();
    await hooks.expired();
    expect(await s.load()).toBeNull();
    expect(expired).toBe(1);
    expect(await s.clientId()).toBe(id);
  });
});

describe('deviceName', () => {
  it('shortens common user agents', () => {
    expect(
      deviceName(
        'Mozilla/5.0 (Linux; Android 14; SM-G9910 Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.193 Mobile Safari/537.36 MicroMessenger/8.0.47',
      ),
    ).toBe('Android 14 SM-G9910 · 微信');
    expect(
      deviceName(
        'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
      ),
    ).toBe('Android 10 · Chrome');
    expect(
      deviceName(
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      ),
    ).toBe('iPhone · Safari');
    expect(deviceName('')).toBe('未知设备');
    expect(deviceName('x'.repeat(500)).length).toBeLessThanOrEqual(64);
  });
});
