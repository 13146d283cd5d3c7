import 'fake-indexeddb/auto';
import { Api } from '../src/lib/api';
import { closeFangzha } from '../src/lib/db';
import { LocalStore } from '../src/lib/store';
import { SyncClient } from '../src/lib/sync';
import { FakeServer } from './fakeServer';

let n = 0;
const opened: string[] = [];

export const CLIENT = '0190f3c2-0000-7000-8000-00000000c11e';

/** A store on a fresh database. */
export function freshStore(clientId = CLIENT): LocalStore {
  const name = `test-${Math.random().toString(36).slice(2)}-${n++}`;
  opened.push(name);
  return new LocalStore(clientId, name);
}

export async function closeAll(): Promise<void> {
  await Promise.all(opened.splice(0).map((name) => closeFangzha(name)));
}

/** A sync client wired to a fake server, with a token pair the server knows. */
export function wired(server: FakeServer, store: LocalStore, clientId = CLIENT) {
  let tokens = { accessToken: server.validToken, refreshToken: server.refreshToken };
  const api = new Api({
    fetch: server.fetch,
    auth: {
      tokens: async () => tokens,
      refreshed: async (a) => {
        tokens = { accessToken: a.access_token, refreshToken: a.refresh_token };
      },
      expired: async () => {},
    },
  });
  const sync = new SyncClient({
    store,
    api,
    clientId,
    lock: (fn) => fn(),
    random: () => 0,
    now: () => Date.now(),
  });
  return { api, sync };
}

export function uuid(i: number): string {
  return `0190f3c2-7d3e-7a1b-8c4d-${String(i).padStart(12, '0')}`;
}
