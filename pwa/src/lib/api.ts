// A small fetch client for the fangzha server (shared/design/SYNC.md, "Authentication").
//
// Every failure becomes an ApiError whose `message` is the Chinese text to show, taken from the
// dictionary. `kind` tells the code what happened:
//   network       fetch threw: offline or the server is unreachable (keep local data, retry later)
//   unauthorized  no session, or the refresh token was refused: the user must log in again
//   http          the server answered with an error status (code = its "error" field)
//   bad_response  the server answered something that is not the expected JSON
//
// Authenticated requests refresh the token pair once on a 401 and retry. Refreshes are
// single-flight (and, through AuthHooks.exclusive, one at a time across tabs): the server
// revokes the whole login when a rotated refresh token is used twice.

import { t } from '../i18n/zh-CN';
import type { AuthResponse, User } from './types';

export type ApiErrorKind = 'network' | 'unauthorized' | 'http' | 'bad_response';

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  /** HTTP status, 0 when there was no answer. */
  readonly status: number;
  /** The server's machine code ("invalid_credentials", …), or a local one. */
  readonly code: string;
  /** Seconds from a Retry-After header, when there was one. */
  readonly retryAfter: number | null;
  /** The server's own (not shown) message, for logs. */
  readonly serverMessage: string | null;
  /** The whole JSON error body (e.g. `expected` of mid_gap, `server_time_ms` of clock_skew). */
  readonly body: Record<string, unknown> | null;

  constructor(
    kind: ApiErrorKind,
    status: number,
    code: string,
    message: string,
    opts: {
      retryAfter?: number | null;
      serverMessage?: string | null;
      body?: Record<string, unknown> | null;
      cause?: unknown;
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.retryAfter = opts.retryAfter ?? null;
    this.serverMessage = opts.serverMessage ?? null;
    this.body = opts.body ?? null;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** Reads Retry-After: either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** The Chinese message for an error answer. */
export function messageFor(status: number, code: string, retryAfter: number | null): string {
  switch (code) {
    case 'invalid_credentials':
      return t.errors.invalidCredentials;
    case 'too_many_attempts':
    case 'too_many_requests':
    case 'rate_limited':
      return retryAfter === null
        ? t.errors.tooManyAttemptsLater
        : t.errors.tooManyAttempts(Math.max(1, Math.ceil(retryAfter / 60)));
    case 'invalid_json':
    case 'invalid_request':
      return t.errors.invalidRequest;
    case 'invalid_refresh_token':
      return t.errors.sessionExpired;
    case 'client_id_taken':
      return t.errors.clientIdTaken;
  }
  if (status === 401) return t.errors.sessionExpired;
  if (status === 429) return messageFor(status, 'too_many_attempts', retryAfter);
  if (status === 403) return t.errors.forbidden;
  if (status === 426) return t.errors.upgradeRequired;
  if (status === 400 || status === 422) return t.errors.invalidRequest;
  if (status >= 500) return t.errors.server;
  return t.errors.unknown(status);
}

interface ErrorBody {
  error?: unknown;
  message?: unknown;
}

async function errorFrom(res: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
  let body: ErrorBody | null = null;
  let whole: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = await res.json();
    if (parsed !== null && typeof parsed === 'object') {
      body = parsed as ErrorBody;
      whole = parsed as Record<string, unknown>;
    }
  } catch {
    // Not JSON (a proxy's HTML page, an empty body…): the status alone decides.
  }
  const code = typeof body?.error === 'string' ? body.error : `http_${res.status}`;
  const serverMessage = typeof body?.message === 'string' ? body.message : null;
  const kind: ApiErrorKind = res.status === 401 ? 'unauthorized' : 'http';
  return new ApiError(kind, res.status, code, messageFor(res.status, code, retryAfter), {
    retryAfter,
    serverMessage,
    body: whole,
  });
}

function badResponse(status: number, cause?: unknown): ApiError {
  return new ApiError('bad_response', status, 'bad_response', t.errors.badResponse, { cause });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isUser(v: unknown): v is User {
  return (
    isObject(v) &&
    (typeof v.id === 'string' || typeof v.id === 'number') &&
    typeof v.role === 'string' &&
    Array.isArray(v.areas)
  );
}

function areaList(v: User): unknown[] {
  const details = (v as unknown as Record<string, unknown>).area_details;
  return Array.isArray(details) ? details : v.areas;
}

/** Checks the shape of a user and fills what the server may leave out. */
function toUser(v: unknown, status: number): User {
  // GET /api/me answers the user object; accept {"user": {...}} too.
  if (isObject(v) && !isUser(v) && isUser(v.user)) v = v.user;
  if (!isUser(v)) throw badResponse(status);
  const username = typeof v.username === 'string' ? v.username : '';
  const name = typeof v.name === 'string' && v.name !== '' ? v.name : username;
  return {
    id: String(v.id),
    username,
    name,
    role: v.role,
    // The server sends `areas` as ids (as the admin API takes them) and the same areas with
    // names in `area_details`; older shapes put the objects in `areas`.
    areas: areaList(v).filter(isObject).map((a) => ({
      id: String(a.id),
      name: typeof a.name === 'string' ? a.name : String(a.id),
      level: a.level as User['areas'][number]['level'],
      parent_id: a.parent_id === null || a.parent_id === undefined ? null : String(a.parent_id),
    })),
  };
}

function toAuth(v: unknown, status: number): AuthResponse {
  if (
    !isObject(v) ||
    typeof v.access_token !== 'string' ||
    typeof v.refresh_token !== 'string' ||
    typeof v.expires_in !== 'number'
  ) {
    throw badResponse(status);
  }
  return {
    access_token: v.access_token,
    refresh_token: v.refresh_token,
    expires_in: v.expires_in,
    user: toUser(v.user, status),
  };
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

/** How the client reaches the stored session. src/lib/session.ts provides the real one. */
export interface AuthHooks {
  /** The current token pair, or null when logged out. Read fresh on every call. */
  tokens(): Promise<Tokens | null>;
  /** A refresh succeeded: store the new pair (and user). */
  refreshed(auth: AuthResponse): Promise<void>;
  /** The refresh token was refused: the session is over. */
  expired(): Promise<void>;
  /** Runs fn while no other tab refreshes (Web Locks). Optional. */
  exclusive?<T>(fn: () => Promise<T>): Promise<T>;
}

export interface ApiOptions {
  /** Prefix for every path; '' means the page's own origin. */
  baseUrl?: string;
  /** Defaults to the global fetch, looked up at call time (so tests can stub it). */
  fetch?: typeof fetch;
  auth?: AuthHooks;
}

export class Api {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch | undefined;
  private readonly auth: AuthHooks | undefined;
  private refreshing: Promise<Tokens | null> | null = null;

  constructor(opts: ApiOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? '').replace(/\/$/, '');
    this.fetchImpl = opts.fetch;
    this.auth = opts.auth;
  }

  /** POST /api/auth/login. Needs the network. */
  async login(username: string, password: string, deviceName: string): Promise<AuthResponse> {
    const res = await this.send('/api/auth/login', {
      method: 'POST',
      body: JSON.stringify({ username, password, device_name: deviceName }),
    });
    return toAuth(await this.json(res), res.status);
  }

  /** POST /api/auth/refresh: a new token pair. 401 invalid_refresh_token = logged out. */
  async refresh(refreshToken: string): Promise<AuthResponse> {
    const res = await this.send('/api/auth/refresh', {
      method: 'POST',
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    return toAuth(await this.json(res), res.status);
  }

  /** POST /api/auth/logout: revokes the refresh token. 204. */
  async logout(refreshToken: string, signal?: AbortSignal): Promise<void> {
    await this.send('/api/auth/logout', {
      method: 'POST',
      body: JSON.stringify({ refresh_token: refreshToken }),
      ...(signal ? { signal } : {}),
    });
  }

  /** GET /api/me: the logged-in user with their current areas. */
  async me(): Promise<User> {
    const res = await this.authed('/api/me', { method: 'GET' });
    return toUser(await this.json(res), res.status);
  }

  /**
   * An authenticated request. On 401 the token pair is refreshed once (when a refresh token is
   * present) and the request is sent again; a second 401 is final. Throws ApiError unless the
   * answer is 2xx.
   */
  async authed(path: string, init: RequestInit = {}): Promise<Response> {
    const auth = this.auth;
    const tokens = auth ? await auth.tokens() : null;
    if (!auth || !tokens) {
      throw new ApiError('unauthorized', 0, 'no_session', t.errors.sessionExpired);
    }
    const first = await this.send(path, init, tokens.accessToken, true);
    if (first.status !== 401) return this.checked(first);

    const renewed = tokens.refreshToken ? await this.renew(tokens.accessToken) : null;
    if (!renewed) throw await errorFrom(first);
    return this.checked(await this.send(path, init, renewed.accessToken, true));
  }

  /**
   * Gets a token pair newer than `stale`: one refresh at a time in this page, and under
   * AuthHooks.exclusive across pages. Another caller may already have refreshed: then the
   * stored pair is newer and is used as it is. Null = the session is over.
   */
  private renew(stale: string): Promise<Tokens | null> {
    if (this.refreshing) return this.refreshing;
    const auth = this.auth;
    if (!auth) return Promise.resolve(null);
    const run = async (): Promise<Tokens | null> => {
      const current = await auth.tokens();
      if (!current) return null;
      if (current.accessToken !== stale) return current;
      if (!current.refreshToken) return null;
      try {
        const fresh = await this.refresh(current.refreshToken);
        await auth.refreshed(fresh);
        return { accessToken: fresh.access_token, refreshToken: fresh.refresh_token };
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) {
          await auth.expired();
          return null;
        }
        throw e; // offline or a server fault: keep the session, try again later
      }
    };
    const p = (auth.exclusive ? auth.exclusive(run) : run()).finally(() => {
      this.refreshing = null;
    });
    this.refreshing = p;
    return p;
  }

  private async send(
    path: string,
    init: RequestInit,
    accessToken?: string,
    allow401 = false,
  ): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('Accept', 'application/json');
    if (init.body !== undefined && init.body !== null && !headers.has('Content-Type')) {
      headers.set('Content-Type', 'application/json');
    }
    if (accessToken) headers.set('Authorization', `Bearer ${accessToken}`);
    const f = this.fetchImpl ?? globalThis.fetch;
    let res: Response;
    try {
      res = await f(this.baseUrl + path, { ...init, headers, cache: 'no-store' });
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
      throw new ApiError('network', 0, 'network', t.errors.network, { cause });
    }
    if (allow401 && res.status === 401) return res;
    return this.checked(res);
  }

  private async checked(res: Response): Promise<Response> {
    if (res.ok) return res;
    throw await errorFrom(res);
  }

  /** An authenticated JSON request; the parsed answer. */
  async postJson<T>(path: string, body: unknown): Promise<T> {
    const res = await this.authed(path, { method: 'POST', body: JSON.stringify(body) });
    return (await this.json(res)) as T;
  }

  async getJson<T>(path: string): Promise<T> {
    const res = await this.authed(path, { method: 'GET' });
    return (await this.json(res)) as T;
  }

  private async json(res: Response): Promise<unknown> {
    try {
      return await res.json();
    } catch (cause) {
      throw badResponse(res.status, cause);
    }
  }
}
