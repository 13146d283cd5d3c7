import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api, ApiError, parseRetryAfter, type AuthHooks, type Tokens } from '../src/lib/api';
import type { AuthResponse, User } from '../src/lib/types';

const user: User = {
  id: '0190f0a0-0000-7000-8000-000000000001',
  username: 'wangwu',
  name: '王五',
  role: 'grid_worker',
  areas: [
    {
      id: '0190f0a0-0000-7000-8000-0000000000a1',
      name: '东风村第三网格',
      level: 'grid',
      parent_id: '0190f0a0-0000-7000-8000-0000000000a0',
    },
  ],
};

function auth(n: number): AuthResponse {
  return { access_token: `access-${n}`, refresh_token: `refresh-${n}`, expires_in: 900, user };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

/** Stubs the global fetch; returns the recorded calls. */
function stubFetch(handler: Handler) {
  const calls: { url: string; init: RequestInit; body: unknown; auth: string | null }[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    calls.push({ url, init, body, auth: new Headers(init.headers).get('Authorization') });
    return handler(url, init);
  });
  vi.stubGlobal('fetch', fn);
  return calls;
}

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('expected a failure');
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('login', () => {
  it('reads the server shape: area ids in `areas`, named areas in `area_details`', async () => {
    const area = user.areas[0];
    stubFetch(() =>
      json(200, {
        ...auth(1),
        user: { ...user, role_label: '网格员', areas: [area?.id], area_details: [area] },
      }),
    );
    const res = await new Api().login('wangwu', 'secret', 'x');
    expect(res.user.areas).toEqual([area]);
  });

  it('posts username, password and device_name and returns the session', async () => {
    const calls = stubFetch(() => json(200, auth(1)));
    const res = await new Api().login('wangwu', 'secret', 'Android 14 · Chrome');
    expect(res.access_token).toBe('access-1');
    expect(res.user.name).toBe('王五');
    expect(res.user.areas[0]?.level).toBe('grid');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('/api/auth/login');
    expect(calls[0]?.init.method).toBe('POST');
    expect(new Headers(calls[0]?.init.headers).get('Content-Type')).toBe('application/json');
    expect(calls[0]?.body).toEqual({
      username: 'wangwu',
      password: 'secret',
      device_name: 'Android 14 · Chrome',
    });
  });

  it('maps 401 invalid_credentials to 用户名或密码错误', async () => {
    stubFetch(() => json(401, { error: 'invalid_credentials', message: 'wrong username or password' }));
    const e = await failure(new Api().login('wangwu', 'bad', 'd'));
    expect(e.status).toBe(401);
    expect(e.code).toBe('invalid_credentials');
    expect(e.message).toBe('用户名或密码错误');
    expect(e.serverMessage).toBe('wrong username or password');
  });

  it('maps 429 with Retry-After to minutes, rounded up', async () => {
    stubFetch(() =>
      json(429, { error: 'too_many_attempts', message: 'slow down' }, { 'Retry-After': '300' }),
    );
    const e = await failure(new Api().login('wangwu', 'bad', 'd'));
    expect(e.status).toBe(429);
    expect(e.retryAfter).toBe(300);
    expect(e.message).toBe('尝试次数过多，请 5 分钟后再试');

    stubFetch(() => json(429, { error: 'too_many_attempts' }, { 'Retry-After': '61' }));
    expect((await failure(new Api().login('a', 'b', 'd'))).message).toBe(
      '尝试次数过多，请 2 分钟后再试',
    );

    stubFetch(() => json(429, { error: 'too_many_attempts' }, { 'Retry-After': '5' }));
    expect((await failure(new Api().login('a', 'b', 'd'))).message).toBe(
      '尝试次数过多，请 1 分钟后再试',
    );
  });

  it('maps 429 without Retry-After to a message without a number', async () => {
    stubFetch(() => json(429, { error: 'too_many_attempts' }));
    const e = await failure(new Api().login('a', 'b', 'd'));
    expect(e.retryAfter).toBeNull();
    expect(e.message).toBe('尝试次数过多，请稍后再试');
  });

  it('maps a network failure to the offline message', async () => {
    stubFetch(() => {
      throw new TypeError('Failed to fetch');
    });
    const e = await failure(new Api().login('a', 'b', 'd'));
    expect(e.kind).toBe('network');
    expect(e.status).toBe(0);
    expect(e.message).toBe('无法连接服务器，请检查网络后重试');
  });

  it('maps 400 invalid_json and invalid_request', async () => {
    stubFetch(() => json(400, { error: 'invalid_json', message: 'expected value at line 1' }));
    let e = await failure(new Api().login('a', 'b', 'd'));
    expect(e.code).toBe('invalid_json');
    expect(e.message).toBe('请求无效，请检查填写内容后重试');

    stubFetch(() => json(400, { error: 'invalid_request', message: 'username is empty' }));
    e = await failure(new Api().login('a', 'b', 'd'));
    expect(e.code).toBe('invalid_request');
    expect(e.message).toBe('请求无效，请检查填写内容后重试');
  });

  it('treats a body that is not JSON as a bad response', async () => {
    stubFetch(() => new Response('<html>ok</html>', { status: 200 }));
    let e = await failure(new Api().login('a', 'b', 'd'));
    expect(e.kind).toBe('bad_response');
    expect(e.message).toBe('服务器返回了无法识别的内容，请稍后再试');

    // An error page from a proxy: the status decides the message.
    stubFetch(() => new Response('<html>Bad Gateway</html>', { status: 502 }));
    e = await failure(new Api().login('a', 'b', 'd'));
    expect(e.kind).toBe('http');
    expect(e.code).toBe('http_502');
    expect(e.message).toBe('服务器出现问题，请稍后再试');

    // JSON, but not a session.
    stubFetch(() => json(200, { hello: 'world' }));
    e = await failure(new Api().login('a', 'b', 'd'));
    expect(e.kind).toBe('bad_response');
  });

  it('uses the username when the user has no name', async () => {
    stubFetch(() => json(200, { ...auth(1), user: { ...user, name: '' } }));
    expect((await new Api().login('a', 'b', 'd')).user.name).toBe('wangwu');
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter('soon')).toBeNull();
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:10:00 GMT', now)).toBe(600);
  });
});

describe('refresh and logout', () => {
  it('refresh posts the refresh token; 401 invalid_refresh_token means logged out', async () => {
    const calls = stubFetch(() => json(401, { error: 'invalid_refresh_token', message: 'gone' }));
    const e = await failure(new Api().refresh('refresh-1'));
    expect(calls[0]?.url).toBe('/api/auth/refresh');
    expect(calls[0]?.body).toEqual({ refresh_token: 'refresh-1' });
    expect(e.kind).toBe('unauthorized');
    expect(e.message).toBe('登录已过期，请重新登录');
  });

  it('logout posts the refresh token and accepts 204', async () => {
    const calls = stubFetch(() => new Response(null, { status: 204 }));
    await new Api({ baseUrl: 'https://fz.example/' }).logout('refresh-1');
    expect(calls[0]?.url).toBe('https://fz.example/api/auth/logout');
    expect(calls[0]?.body).toEqual({ refresh_token: 'refresh-1' });
  });
});

/** In-memory AuthHooks, recording what the client did. */
function memoryHooks(initial: Tokens | null) {
  const state = { tokens: initial, refreshed: [] as AuthResponse[], expired: 0 };
  const hooks: AuthHooks = {
    tokens: async () => state.tokens,
    refreshed: async (a) => {
      state.refreshed.push(a);
      state.tokens = { accessToken: a.access_token, refreshToken: a.refresh_token };
    },
    expired: async () => {
      state.expired++;
      state.tokens = null;
    },
  };
  return { state, hooks };
}

describe('authenticated requests', () => {
  it('sends the bearer token', async () => {
    const calls = stubFetch(() => json(200, user));
    const { hooks } = memoryHooks({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    const me = await new Api({ auth: hooks }).me();
    expect(me.username).toBe('wangwu');
    expect(calls[0]?.url).toBe('/api/me');
    expect(calls[0]?.auth).toBe('Bearer access-1');
  });

  it('refreshes once on 401 and retries with the new token', async () => {
    const calls = stubFetch((url, init) => {
      const bearer = new Headers(init.headers).get('Authorization');
      if (url === '/api/auth/refresh') return json(200, auth(2));
      if (bearer === 'Bearer access-2') return json(200, user);
      return json(401, { error: 'token_expired', message: 'expired' });
    });
    const { state, hooks } = memoryHooks({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    const me = await new Api({ auth: hooks }).me();
    expect(me.name).toBe('王五');
    expect(calls.map((c) => c.url)).toEqual(['/api/me', '/api/auth/refresh', '/api/me']);
    expect(calls[1]?.body).toEqual({ refresh_token: 'refresh-1' });
    expect(calls[2]?.auth).toBe('Bearer access-2');
    expect(state.refreshed).toHaveLength(1);
    expect(state.tokens).toEqual({ accessToken: 'access-2', refreshToken: 'refresh-2' });
  });

  it('does not refresh twice when the retry gets 401 again', async () => {
    const calls = stubFetch((url) => {
      if (url === '/api/auth/refresh') return json(200, auth(2));
      return json(401, { error: 'invalid_token' });
    });
    const { hooks } = memoryHooks({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    const e = await failure(new Api({ auth: hooks }).me());
    expect(e.kind).toBe('unauthorized');
    expect(calls.map((c) => c.url)).toEqual(['/api/me', '/api/auth/refresh', '/api/me']);
  });

  it('ends the session when the refresh token is refused', async () => {
    const calls = stubFetch((url) => {
      if (url === '/api/auth/refresh') return json(401, { error: 'invalid_refresh_token' });
      return json(401, { error: 'token_expired' });
    });
    const { state, hooks } = memoryHooks({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    const e = await failure(new Api({ auth: hooks }).me());
    expect(e.kind).toBe('unauthorized');
    expect(e.message).toBe('登录已过期，请重新登录');
    expect(state.expired).toBe(1);
    expect(state.tokens).toBeNull();
    expect(calls).toHaveLength(2);
  });

  it('keeps the session when the refresh fails for lack of network', async () => {
    stubFetch((url) => {
      if (url === '/api/auth/refresh') throw new TypeError('Failed to fetch');
      return json(401, { error: 'token_expired' });
    });
    const { state, hooks } = memoryHooks({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    const e = await failure(new Api({ auth: hooks }).me());
    expect(e.kind).toBe('network');
    expect(state.expired).toBe(0);
    expect(state.tokens?.refreshToken).toBe('refresh-1');
  });

  it('does not try to refresh without a refresh token', async () => {
    const calls = stubFetch(() => json(401, { error: 'token_expired' }));
    const { hooks } = memoryHooks({ accessToken: 'access-1', refreshToken: '' });
    const e = await failure(new Api({ auth: hooks }).me());
    expect(e.kind).toBe('unauthorized');
    expect(calls).toHaveLength(1);
  });

  it('fails without a request when logged out', async () => {
    const calls = stubFetch(() => json(200, user));
    const { hooks } = memoryHooks(null);
    const e = await failure(new Api({ auth: hooks }).me());
    expect(e.kind).toBe('unauthorized');
    expect(calls).toHaveLength(0);
  });

  it('shares one refresh between concurrent requests', async () => {
    let refreshes = 0;
    stubFetch(async (url, init) => {
      if (url === '/api/auth/refresh') {
        refreshes++;
        await new Promise((r) => setTimeout(r, 10));
        return json(200, auth(2));
      }
      const bearer = new Headers(init.headers).get('Authorization');
      return bearer === 'Bearer access-2' ? json(200, user) : json(401, { error: 'token_expired' });
    });
    const { hooks } = memoryHooks({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    const api = new Api({ auth: hooks });
    const results = await Promise.all([api.me(), api.me(), api.me()]);
    expect(results.map((u) => u.id)).toEqual([user.id, user.id, user.id]);
    expect(refreshes).toBe(1);
  });

  it('uses a pair another tab already refreshed instead of refreshing again', async () => {
    const calls = stubFetch((url, init) => {
      const bearer = new Headers(init.headers).get('Authorization');
      if (url === '/api/auth/refresh') return json(200, auth(9));
      return bearer === 'Bearer access-2' ? json(200, user) : json(401, { error: 'token_expired' });
    });
    const { state, hooks } = memoryHooks({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    const api = new Api({
      auth: {
        ...hooks,
        // Another tab rotates the pair while this request is on its way.
        exclusive: async (fn) => {
          state.tokens = { accessToken: 'access-2', refreshToken: 'refresh-2' };
          return fn();
        },
      },
    });
    await api.me();
    expect(calls.map((c) => c.url)).toEqual(['/api/me', '/api/me']);
    expect(calls[1]?.auth).toBe('Bearer access-2');
  });

  it('accepts /api/me wrapped as {"user": …}', async () => {
    stubFetch(() => json(200, { user }));
    const { hooks } = memoryHooks({ accessToken: 'a', refreshToken: 'r' });
    expect((await new Api({ auth: hooks }).me()).name).toBe('王五');
  });
});
