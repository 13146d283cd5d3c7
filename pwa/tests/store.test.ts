import { afterEach, describe, expect, it } from 'vitest';
import { Hlc, formatHlc, parseHlc } from '../src/lib/hlc';
import { mergePulled } from '../src/lib/merge';
import { OutboxNotEmptyError } from '../src/lib/store';
import { CLIENT, closeAll, freshStore, uuid } from './helpers';

afterEach(closeAll);

describe('HLC', () => {
  it('formats exactly as SYNC.md says and compares as strings', () => {
    const c = new Hlc('node-1');
    const a = c.now(1_733_040_000_123);
    expect(a).toBe('001733040000123-00000-node-1');
    const b = c.now(1_733_040_000_123);
    expect(b).toBe('001733040000123-00001-node-1');
    expect(b > a).toBe(true);
    expect(c.now(1_733_040_000_000) > b).toBe(true); // the wall clock went back
    expect(parseHlc(b)).toEqual({ ms: 1_733_040_000_123, counter: 1, node: 'node-1' });
  });

  it('never lets the counter pass 99999', () => {
    const c = new Hlc('n', 0, formatHlc({ ms: 5, counter: 99_999, node: 'n' }));
    expect(c.now(5)).toBe(formatHlc({ ms: 6, counter: 0, node: 'n' }));
  });

  it('follows the server clock offset and observed stamps', () => {
    const c = new Hlc('n', 60_000);
    expect(parseHlc(c.now(1000))!.ms).toBe(61_000);
    c.observe('000000000100000-00007-server');
    expect(c.now(1000)).toBe('000000000100000-00008-n');
  });
});

describe('merge of pulled changes', () => {
  it('keeps an unsynced local edit and takes the other fields', () => {
    const local = {
      entity: 'household', id: 'h', scope: 'g1', parent: '', seq: 3, version: '',
      fields: { address: '新地址', notes: 'old' },
      hlc: { address: '000000000000009-00000-me', notes: '000000000000001-00000-me' },
      deleted: false,
    };
    const merged = mergePulled(local, {
      scope: 'g1', seq: 4, entity: 'household', id: 'h', deleted: false,
      fields: { address: '旧地址', notes: 'server' },
      hlc: { address: '000000000000005-00000-x', notes: '000000000000005-00000-x' },
    });
    expect(merged.fields).toEqual({ address: '新地址', notes: 'server' });
    expect(merged.seq).toBe(4);
  });

  it('delete wins over an edit, and a later restore brings it back', () => {
    const base = mergePulled(undefined, {
      scope: 'g1', seq: 1, entity: 'member', id: 'm', deleted: true,
      fields: { name: 'A', household_id: 'h' }, hlc: { name: '01', _delete: '05' },
    });
    expect(base.deleted).toBe(true);
    expect(base.parent).toBe('h');
    const restored = mergePulled(base, {
      scope: 'g1', seq: 2, entity: 'member', id: 'm', deleted: false,
      fields: { name: 'A' }, hlc: { name: '01', _delete: '05', _restore: '07' },
    });
    expect(restored.deleted).toBe(false);
  });
});

describe('local store', () => {
  it('writes the record and its outbox entry together, with consecutive mids', async () => {
    const store = freshStore();
    await store.write('household', uuid(1), 'g1', 'put', { address: '幸福路 1 号' });
    await store.write('household', uuid(1), 'g1', 'put', { notes: '无人' });
    const rec = await store.get('household', uuid(1));
    expect(rec?.fields).toEqual({ address: '幸福路 1 号', notes: '无人' });
    const out = await store.outbox();
    expect(out.map((e) => e.mid)).toEqual([1, 2]);
    expect(out[0]!.mutation.hlc.endsWith(`-${CLIENT}`)).toBe(true);
    expect(out[1]!.mutation.fields).toEqual({ notes: '无人' });
    expect(out[1]!.mutation.hlc > out[0]!.mutation.hlc).toBe(true);
  });

  it('a failing write leaves neither the record nor an outbox entry', async () => {
    const store = freshStore();
    await store.write('household', uuid(1), 'g1', 'put', { address: 'A' });
    // Corrupt the mid counter so that the outbox insert hits the unique mid index.
    await store.setMeta('next_mid', 1);
    await expect(store.write('household', uuid(2), 'g1', 'put', { address: 'B' })).rejects.toThrow();
    expect(await store.get('household', uuid(2))).toBeUndefined();
    expect((await store.outbox()).length).toBe(1);
    expect(await store.meta('next_mid')).toBe(1);
  });

  it('an edit keeps the record’s stored scope', async () => {
    const store = freshStore();
    await store.write('household', uuid(1), 'g1', 'put', { address: 'A' });
    await store.write('household', uuid(1), 'g2', 'put', { address: 'B' });
    const out = await store.outbox();
    expect(out[1]!.mutation.scope).toBe('g1');
  });

  it('logout is refused while the outbox holds changes, then removes the user’s data', async () => {
    const store = freshStore();
    await store.setMeta('session', { user: 'x' });
    await store.write('household', uuid(1), 'g1', 'put', { address: 'A' });
    await expect(store.clearUserData()).rejects.toBeInstanceOf(OutboxNotEmptyError);
    expect(await store.get('household', uuid(1))).toBeDefined();
    const [e] = await store.outbox();
    await store.settle([e!], 1, [{ mid: 1, status: 'applied' }]);
    await store.clearUserData();
    expect(await store.count('records')).toBe(0);
    expect(await store.meta('session')).toBeUndefined();
    expect(await store.meta('next_mid')).toBe(2); // the device keeps counting
  });

  it('children are found by parent', async () => {
    const store = freshStore();
    await store.write('member', uuid(2), 'g1', 'put', { household_id: uuid(1), name: '甲' });
    await store.write('member', uuid(3), 'g1', 'put', { household_id: uuid(1), name: '乙' });
    await store.write('member', uuid(3), 'g1', 'delete');
    const kids = await store.children('member', uuid(1));
    expect(kids.map((k) => k.fields.name)).toEqual(['甲']);
  });
});

describe('another user on the same phone', () => {
  it('takes a fresh client_id and restarts mids, only with an empty outbox', async () => {
    const store = freshStore();
    await store.write('household', uuid(1), 'g1', 'put', { address: 'A' });
    await expect(store.rebindDevice('new-id', 'u2')).rejects.toBeInstanceOf(OutboxNotEmptyError);
    const [e] = await store.outbox();
    await store.settle([e!], 1, [{ mid: 1, status: 'applied' }]);
    await store.clearUserData();
    await store.rebindDevice('new-id', 'u2');
    expect(await store.meta('client_id')).toBe('new-id');
    expect(await store.meta('next_mid')).toBeUndefined();
    expect(await store.meta('client_owner')).toBe('u2');
  });
});

describe('pulled pages', () => {
  it('with nothing unsent, the server state replaces the local copy (masked values too)', async () => {
    const store = freshStore();
    await store.write('member', uuid(5), 'g1', 'put', { name: '甲', phone: '13812345678' });
    const [e] = await store.outbox();
    await store.settle([e!], 1, [{ mid: 1, status: 'applied' }]);
    await store.applyPull({
      scopes: ['g1'], removed_scopes: [], has_more: false, server_time_ms: 0, cursors: { g1: 9 },
      changes: [{ scope: 'g1', seq: 9, entity: 'member', id: uuid(5), deleted: false,
        fields: { name: '甲', phone: '138****5678' }, hlc: { name: e!.mutation.hlc, phone: e!.mutation.hlc } }],
    });
    expect((await store.get('member', uuid(5)))?.fields.phone).toBe('138****5678');
    expect(await store.cursors()).toEqual({ g1: 9 });
  });
});
