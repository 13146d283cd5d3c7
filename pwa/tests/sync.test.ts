import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/lib/sync';
import { FakeServer } from './fakeServer';
import { CLIENT, closeAll, freshStore, uuid, wired } from './helpers';

afterEach(closeAll);

async function seed(store: ReturnType<typeof freshStore>, n: number, from = 0) {
  for (let i = 0; i < n; i++) {
    await store.write('household', uuid(from + i), 'g1', 'put', { address: `幸福路 ${from + i} 号` });
  }
}

function appliedOnce(server: FakeServer): boolean {
  return [...server.applied.values()].every((n) => n === 1);
}

describe('sync client against a fake server', () => {
  it('pushes the outbox, then pulls the records back', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    await seed(store, 3);
    expect(await sync.sync()).toBe(true);
    expect(await store.pendingCount()).toBe(0);
    expect(server.records.size).toBe(3);
    expect((await store.cursors()).g1).toBe(3);
    expect((await store.get('household', uuid(0)))?.seq).toBe(1);
    expect(await store.lastSync()).toBeGreaterThanOrEqual(server.now);
  });

  it('retries after a network error and a lost answer without applying anything twice', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    await seed(store, 4);
    server.dropRequests = 1;
    expect(await sync.sync()).toBe(false);
    expect(sync.status.state).toBe('offline');
    expect(await store.pendingCount()).toBe(4);
    server.loseAnswers = 1; // applied on the server, answer lost
    expect(await sync.sync()).toBe(false);
    expect(await store.pendingCount()).toBe(4);
    expect(server.records.size).toBe(4);
    expect(await sync.sync()).toBe(true); // same mids again: all duplicate
    expect(await store.pendingCount()).toBe(0);
    expect(appliedOnce(server)).toBe(true);
    expect(server.applied.size).toBe(4);
  });

  it('pushes in batches of consecutive mids and pulls while has_more', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    (sync as unknown as { batchSize: number }).batchSize = 2;
    (sync as unknown as { pullLimit: number }).pullLimit = 2;
    await seed(store, 5);
    expect(await sync.sync()).toBe(true);
    expect(server.pushes).toBe(3);
    expect(server.pulls).toBe(3);
    expect(await store.count('records')).toBe(5);
    expect(appliedOnce(server)).toBe(true);
  });

  it('a duplicate replay (the server already has the mids) empties the outbox', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    await seed(store, 2);
    const out = await store.outbox();
    // Another path delivered the same mutations (e.g. a previous tab before a crash).
    for (const e of out) server.apply(e.mutation);
    server.lastMid.set(CLIENT, 2);
    expect(await sync.sync()).toBe(true);
    expect(await store.pendingCount()).toBe(0);
    expect(server.applied.size).toBe(0);
  });

  it('mid_gap: renumbers from the mid the server expects', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    await store.setMeta('next_mid', 41); // the server's database was restored from a backup
    await seed(store, 2);
    expect((await store.outbox()).map((e) => e.mid)).toEqual([41, 42]);
    expect(await sync.sync()).toBe(true);
    expect(server.lastMid.get(CLIENT)).toBe(2);
    expect(server.records.size).toBe(2);
    expect(await store.meta('next_mid')).toBe(3);
  });

  it('clock_skew: takes the server time as offset and re-stamps', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    // This phone's clock is an hour ahead of the server.
    (await store.clock()).offsetMs = 3_600_000;
    await seed(store, 2);
    const before = (await store.outbox())[0]!.mutation.hlc;
    expect(await sync.sync()).toBe(true);
    const rec = server.records.get(uuid(0))!;
    expect(rec.hlc.address! < before).toBe(true);
    expect(Number(rec.hlc.address!.slice(0, 15))).toBeLessThan(server.now + 600_000);
    const local = await store.get('household', uuid(0));
    expect(local?.hlc.address).toBe(rec.hlc.address);
    // New stamps follow the server's clock.
    await seed(store, 1, 10);
    expect(Number((await store.outbox())[0]!.mutation.hlc.slice(0, 15))).toBeLessThan(server.now + 600_000);
  });

  it('removed_scopes: drops the records of a scope no longer held', async () => {
    const server = new FakeServer();
    server.scopes = ['g1', 'g2'];
    server.apply({ mid: 0, hlc: '000000000000001-00000-server', entity: 'household', id: uuid(7), scope: 'g2', op: 'put', fields: { address: 'X' } });
    const store = freshStore();
    const { sync } = wired(server, store);
    await seed(store, 1);
    expect(await sync.sync()).toBe(true);
    expect(await store.get('household', uuid(7))).toBeDefined();
    server.scopes = ['g1'];
    expect(await sync.sync()).toBe(true);
    expect(await store.get('household', uuid(7))).toBeUndefined();
    expect(await store.get('household', uuid(0))).toBeDefined();
    expect(Object.keys(await store.cursors())).toEqual(['g1']);
  });

  it('an unsynced local edit survives a pull of an older server value', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    await seed(store, 1);
    await sync.sync();
    await store.write('household', uuid(0), 'g1', 'put', { address: '新地址' });
    // Another device's older edit arrives meanwhile; only pull (push would send ours).
    server.apply({ mid: 0, hlc: '000000000000002-00000-other', entity: 'household', id: uuid(0), scope: 'g1', op: 'put', fields: { address: '旧', notes: '别人' } });
    const { sync: pullOnly } = wired(server, store);
    server.dropRequests = 0;
    await (pullOnly as unknown as { pull(): Promise<void> }).pull();
    const rec = await store.get('household', uuid(0));
    expect(rec?.fields.address).toBe('新地址');
    expect(rec?.fields.notes).toBe('别人');
  });

  it('401: refreshes the tokens once and retries', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    await seed(store, 1);
    server.validToken = 'access-rotated'; // the access token ran out
    server.refreshToken = 'refresh-1';
    expect(await sync.sync()).toBe(true);
    expect(server.refreshes).toBe(1);
    expect(server.records.size).toBe(1);
  });

  it('401 with a refused refresh token stops and asks for a login', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    await seed(store, 1);
    server.validToken = 'x';
    server.refreshToken = 'y';
    expect(await sync.sync()).toBe(false);
    expect(sync.status.state).toBe('login_required');
    expect(await store.pendingCount()).toBe(1);
  });

  it('rejected mutations are kept for the user to fix', async () => {
    const server = new FakeServer();
    server.rejectField = 'notes';
    const store = freshStore();
    const { sync } = wired(server, store);
    await store.write('household', uuid(1), 'g1', 'put', { notes: 'x' });
    await store.write('household', uuid(2), 'g1', 'put', { address: 'ok' });
    expect(await sync.sync()).toBe(true);
    expect(await store.pendingCount()).toBe(0);
    const rej = await store.rejected();
    expect(rej.map((r) => [r.mid, r.code, r.field])).toEqual([[1, 'invalid_value', 'notes']]);
  });

  it('backs off exponentially with jitter, capped at five minutes', () => {
    expect(backoffDelay(0, () => 0)).toBe(1000);
    expect(backoffDelay(0, () => 1)).toBe(2000);
    expect(backoffDelay(3, () => 1)).toBe(16_000);
    expect(backoffDelay(30, () => 1)).toBe(300_000);
  });
});

describe('stopping and locking', () => {
  it('426: stops syncing and says an update is needed', async () => {
    const server = new FakeServer();
    const store = freshStore();
    await seed(store, 1);
    const real = server.fetch;
    server.fetch = async (input, init) =>
      String(input).endsWith('/api/sync/push')
        ? new Response(JSON.stringify({ error: 'upgrade_required' }), { status: 426 })
        : real(input, init);
    const { sync: s2 } = wired(server, store);
    expect(await s2.sync()).toBe(false);
    expect(s2.status.state).toBe('update_required');
    expect(await s2.sync()).toBe(false); // stays stopped, no retries
    expect(await store.pendingCount()).toBe(1);
  });

  it('without Web Locks, an IndexedDB lease lets one sync run at a time', async () => {
    const { syncLock } = await import('../src/lib/sync');
    const store = freshStore();
    let release!: () => void;
    const first = syncLock(store, 'a', () => new Promise<string>((r) => (release = () => r('first'))));
    await new Promise((r) => setTimeout(r, 20));
    expect(await syncLock(store, 'b', async () => 'second')).toBeNull();
    release();
    expect(await first).toBe('first');
    expect(await syncLock(store, 'b', async () => 'third')).toBe('third');
  });
});

describe('a refused value', () => {
  it('stays on the phone with its stamp cleared, so the fixed save sends every refused field again', async () => {
    const { unsentFields } = await import('../src/lib/merge');
    const server = new FakeServer();
    server.rejectField = 'notes';
    const store = freshStore();
    const { sync } = wired(server, store);
    await store.write('household', uuid(1), 'g1', 'put', { address: '幸福路 1 号', notes: 'bad' });
    await sync.sync();
    const rec = await store.get('household', uuid(1));
    expect(rec?.fields.address).toBe('幸福路 1 号');
    expect(unsentFields(rec)).toEqual({ address: '幸福路 1 号', notes: 'bad' });
    server.rejectField = null;
    await store.write('household', uuid(1), 'g1', 'put', { ...unsentFields(rec), notes: 'fixed' });
    await sync.sync();
    expect(server.records.get(uuid(1))?.fields).toEqual({ address: '幸福路 1 号', notes: 'fixed' });
    expect(unsentFields(await store.get('household', uuid(1)))).toEqual({});
  });
});

describe('checksums', () => {
  it('match after a normal sync, and a divergence is repaired by pulling the scope from 0', async () => {
    const server = new FakeServer();
    const store = freshStore();
    const { sync } = wired(server, store);
    await seed(store, 3);
    expect(await sync.sync()).toBe(true);
    const pullsAfterFirst = server.pulls;
    expect(pullsAfterFirst).toBe(1); // matched: no second pull
    expect(await store.checksum('g1')).toEqual(await server.checksum('g1'));
    // The server loses a record without a change (a restored backup): the phone still has it.
    server.records.delete(uuid(1));
    expect(await sync.sync()).toBe(true);
    expect(server.pulls).toBe(pullsAfterFirst + 2); // mismatch → reset → pull from 0
    expect(await store.get('household', uuid(1))).toBeUndefined();
    expect(await store.count('records')).toBe(2);
    expect(await store.checksum('g1')).toEqual(await server.checksum('g1'));
  });
});
