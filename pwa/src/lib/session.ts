// The login session on this phone, kept in IndexedDB so that the app opens logged in, also
// with no network. One database, "fangzha" (src/lib/db.ts), holds everything local; the
// session lives in its `meta` store.
//
//   meta["session"]    tokens + the user with their areas (removed on logout)
//   meta["client_id"]  this device's id for sync, made once and never removed: the server binds
//                      it to the first user that sends it (SYNC.md), so it survives logout.

import type { AuthHooks, Tokens } from './api';
import { DB_NAME, closeFangzha, openFangzha, type Db } from './db';
import type { AuthResponse, User } from './types';

export { DB_NAME };

export interface StoredSession {
  accessToken: string;
  refreshToken: string;
  /** When the access token runs out (ms since the epoch, by this phone's clock). */
  accessExpiresAt: number;
  user: User;
  /** When this session was saved or refreshed last (ms since the epoch). */
  savedAt: number;
}

const SESSION_KEY = 'session';
const CLIENT_ID_KEY = 'client_id';

function isSession(v: unknown): v is StoredSession {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as StoredSession).accessToken === 'string' &&
    typeof (v as StoredSession).refreshToken === 'string' &&
    typeof (v as StoredSession).user === 'object'
  );
}

function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; this is the same v4 layout from random bytes.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class SessionStore {
  constructor(readonly dbName: string = DB_NAME) {}

  private db(): Promise<Db> {
    return openFangzha(this.dbName);
  }

  /** The stored session, or null when logged out. Needs no network. */
  async load(): Promise<StoredSession | null> {
    const v = await (await this.db()).get('meta', SESSION_KEY);
    return isSession(v) ? v : null;
  }

  /** Stores the answer of a login or refresh. */
  async save(auth: AuthResponse, now: number = Date.now()): Promise<StoredSession> {
    const session: StoredSession = {
      accessToken: auth.access_token,
      refreshToken: auth.refresh_token,
      accessExpiresAt: now + auth.expires_in * 1000,
      user: auth.user,
      savedAt: now,
    };
    await (await this.db()).put('meta', session, SESSION_KEY);
    return session;
  }

  /** Replaces the user (e.g. new areas from GET /api/me); null when logged out meanwhile. */
  async updateUser(user: User): Promise<StoredSession | null> {
    const db = await this.db();
    const tx = db.transaction('meta', 'readwrite');
    const v = await tx.store.get(SESSION_KEY);
    let next: StoredSession | null = null;
    if (isSession(v)) {
      next = { ...v, user };
      await tx.store.put(next, SESSION_KEY);
    }
    await tx.done;
    return next;
  }

  /** Logout: forgets the session. The client_id stays. */
  async clear(): Promise<void> {
    await (await this.db()).delete('meta', SESSION_KEY);
  }

  /** This device's sync id: made on first use, then always the same. */
  async clientId(): Promise<string> {
    const db = await this.db();
    const tx = db.transaction('meta', 'readwrite');
    const stored = await tx.store.get(CLIENT_ID_KEY);
    let id: string;
    if (typeof stored === 'string' && stored !== '') {
      id = stored;
    } else {
      id = randomId();
      await tx.store.put(id, CLIENT_ID_KEY);
    }
    await tx.done;
    return id;
  }

  /** Closes the connection (tests). */
  async close(): Promise<void> {
    await closeFangzha(this.dbName);
  }

  /**
   * The hooks the API client uses to read and renew tokens. `onExpired` runs after the
   * session was removed because the server refused the refresh token.
   */
  authHooks(onExpired: () => void = () => {}): AuthHooks {
    return {
      tokens: async (): Promise<Tokens | null> => {
        const s = await this.load();
        return s ? { accessToken: s.accessToken, refreshToken: s.refreshToken } : null;
      },
      refreshed: async (auth) => {
        await this.save(auth);
      },
      expired: async () => {
        await this.clear();
        onExpired();
      },
      exclusive: withRefreshLock,
    };
  }
}

/**
 * Runs fn under a Web Lock so that two tabs never refresh with the same refresh token (the
 * server revokes the whole login when a rotated token is used again). Without Web Locks (old
 * browsers, Node tests) fn just runs.
 */
export function withRefreshLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return fn();
  return locks.request('fangzha-auth-refresh', fn);
}

/**
 * A short name for this device, sent at login so that admins can tell sessions apart,
 * e.g. "Android 14 · 微信" or "iPhone · Safari". At most 64 characters.
 */
export function deviceName(userAgent: string = typeof navigator !== 'undefined' ? navigator.userAgent : ''): string {
  const ua = userAgent;
  let os = '';
  let m: RegExpMatchArray | null;
  if ((m = ua.match(/Android\s+([\d.]+)?/))) {
    os = m[1] ? `Android ${m[1].split('.')[0]}` : 'Android';
    // The model sits after the version ("Android 14; SM-G9910)"); reduced UAs say "K".
    const model = ua
      .match(/Android[^;)]*;\s*([^;)]+)/)?.[1]
      ?.replace(/\s*Build\/.*$/, '')
      .trim();
    if (model && model !== 'K' && !/^(wv|Linux|U)$/.test(model)) os += ` ${model}`;
  } else if (/iPhone/.test(ua)) os = 'iPhone';
  else if (/iPad/.test(ua)) os = 'iPad';
  else if ((m = ua.match(/HarmonyOS|OpenHarmony/))) os = m[0];
  else if (/Windows/.test(ua)) os = 'Windows';
  else if (/Macintosh|Mac OS X/.test(ua)) os = 'Mac';
  else if (/CrOS/.test(ua)) os = 'ChromeOS';
  else if (/Linux/.test(ua)) os = 'Linux';

  let browser = '';
  if (/MicroMessenger/i.test(ua)) browser = '微信';
  else if (/HuaweiBrowser/.test(ua)) browser = '华为浏览器';
  else if (/MiuiBrowser/.test(ua)) browser = '小米浏览器';
  else if (/UCBrowser/.test(ua)) browser = 'UC';
  else if (/QQBrowser/.test(ua)) browser = 'QQ浏览器';
  else if (/EdgA?\//.test(ua)) browser = 'Edge';
  else if (/Firefox\//.test(ua)) browser = 'Firefox';
  else if (/HeadlessChrome/.test(ua)) browser = 'Headless Chrome';
  else if (/Chrome\//.test(ua)) browser = 'Chrome';
  else if (/Safari\//.test(ua)) browser = 'Safari';

  const name = [os, browser].filter(Boolean).join(' · ') || '未知设备';
  return name.length > 64 ? name.slice(0, 64) : name;
}
