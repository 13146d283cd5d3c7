// The local store: records, the outbox and everything sync needs, on top of db.ts.
//
// The two rules that keep keystrokes safe (ARCHITECTURE.md "The phone app's rules"):
//  - a local change writes its record AND its outbox entry (and the mid counter) in ONE
//    transaction: after a crash either both are there or neither;
//  - a pulled page, its cursors and any purge of removed scopes are ONE transaction too, so
//    a cursor never moves past data that was not stored.

import { Hlc } from './hlc';
import { applyMutation, mergePulled } from './merge';
import { USER_STORES, openFangzha, type Db } from './db';
import type {
  Fields,
  LocalRecord,
  Mutation,
  Op,
  OutboxEntry,
  PhotoEntry,
  PullResponse,
  PushResult,
  RejectedEntry,
  ScopeChecksum,
} from './model';

const META = {
  nextMid: 'next_mid',
  hlcLast: 'hlc_last',
  clockOffset: 'clock_offset',
  lastSync: 'last_sync',
  scopes: 'scopes',
  clientOwner: 'client_owner',
} as const;

/**
 * Meta keys that belong to the device, not the user: they survive logout. `client_owner` is
 * the user the server bound this client_id to (SYNC.md: another user sending it gets 403).
 */
const DEVICE_META = new Set<string>(['client_id', META.nextMid, META.hlcLast, META.clockOffset, META.clientOwner]);

/** Other tabs of the app re-read when this tab writes (BroadcastChannel, where it exists). */
const CHANNEL = 'fangzha-store';

export class OutboxNotEmptyError extends Error {
  constructor(readonly pending: number) {
    super(`outbox holds ${pending} unsynced changes`);
    this.name = 'OutboxNotEmptyError';
  }
}

export class LocalStore {
  private hlcp: Promise<Hlc> | null = null;
  private listeners = new Set<() => void>();
  private channel: BroadcastChannel | null = null;

  constructor(
    readonly clientId: string,
    readonly dbName?: string,
  ) {}

  db(): Promise<Db> {
    return openFangzha(this.dbName);
  }

  /** The device clock, restored from meta so that stamps keep growing across reloads. */
  clock(): Promise<Hlc> {
    if (!this.hlcp) {
      this.hlcp = (async () => {
        const db = await this.db();
        const last = await db.get('meta', META.hlcLast);
        const offset = await db.get('meta', META.clockOffset);
        return new Hlc(
          this.clientId,
          typeof offset === 'number' ? offset : 0,
          typeof last === 'string' && last.endsWith(`-${this.clientId}`) ? last : null,
        );
      })();
    }
    return this.hlcp;
  }

  /** Called after every local write or pulled page (screens re-read). */
  subscribe(fn: () => void): () => void {
    if (!this.channel && typeof BroadcastChannel !== 'undefined' && typeof window !== 'undefined') {
      this.channel = new BroadcastChannel(`${CHANNEL}:${this.dbName ?? ''}`);
      this.channel.onmessage = () => this.notify();
    }
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }

  private changed(): void {
    this.notify();
    this.channel?.postMessage('changed');
  }

  /**
   * A local change: the record and its outbox entry in one transaction. The mid is the next of
   * this device's counter (kept in the same transaction, so mids stay gapless across tabs).
   */
  async write(
    entity: string,
    id: string,
    scope: string,
    op: Op,
    fields?: Fields,
  ): Promise<LocalRecord> {
    const clock = await this.clock();
    const db = await this.db();
    const tx = db.transaction(['records', 'outbox', 'meta'], 'readwrite');
    const meta = tx.objectStore('meta');
    const [nextMid, existing] = await Promise.all([
      meta.get(META.nextMid),
      tx.objectStore('records').get([entity, id]),
    ]);
    const mid = typeof nextMid === 'number' ? nextMid : 1;
    // The scope of a record is fixed (SYNC-STORAGE.md); an edit keeps the stored one.
    const recScope = existing?.scope ?? scope;
    const mutation: Mutation = { mid, hlc: clock.now(), entity, id, scope: recScope, op };
    if (op === 'put') mutation.fields = fields ?? {};
    const rec = applyMutation(existing, mutation);
    const entry: OutboxEntry = { mid, mutation, createdAt: Date.now() };
    try {
      await Promise.all([
        tx.objectStore('records').put(rec),
        tx.objectStore('outbox').add(entry),
        meta.put(mid + 1, META.nextMid),
        meta.put(clock.last(), META.hlcLast),
        tx.done,
      ]);
    } catch (e) {
      // Aborted: nothing of it was stored. Make sure the transaction is really over.
      try {
        tx.abort();
      } catch {
        /* already finished */
      }
      await tx.done.catch(() => {});
      throw e;
    }
    this.changed();
    return rec;
  }

  async get(entity: string, id: string): Promise<LocalRecord | undefined> {
    return (await this.db()).get('records', [entity, id]);
  }

  /** Live records of an entity in a scope. */
  async list(entity: string, scope: string): Promise<LocalRecord[]> {
    const all = await (await this.db()).getAllFromIndex('records', 'entity_scope', [entity, scope]);
    return all.filter((r) => !r.deleted);
  }

  /** Live records of an entity in every scope (the desk's queue and map). */
  async listAll(entity: string): Promise<LocalRecord[]> {
    const range = IDBKeyRange.bound([entity, ''], [entity, '\uffff']);
    const all = await (await this.db()).getAllFromIndex('records', 'entity_scope', range);
    return all.filter((r) => !r.deleted);
  }

  /** Live records of an entity whose parent is `parent`. */
  async children(entity: string, parent: string): Promise<LocalRecord[]> {
    const all = await (await this.db()).getAllFromIndex('records', 'entity_parent', [entity, parent]);
    return all.filter((r) => !r.deleted);
  }

  async count(store: 'records' | 'outbox' | 'rejected' | 'photos'): Promise<number> {
    return (await this.db()).count(store);
  }

  pendingCount(): Promise<number> {
    return this.count('outbox');
  }

  /** The oldest outbox entries, in mid order. */
  async outbox(limit = 500): Promise<OutboxEntry[]> {
    const db = await this.db();
    return db.getAll('outbox', null, limit).then((es) => es.sort((a, b) => a.mid - b.mid));
  }

  /**
   * The server answered for a batch: answered entries leave the outbox; rejected ones go to
   * `rejected` (for the user to fix) in the same transaction, so none is ever lost.
   */
  async settle(batch: OutboxEntry[], lastMid: number, results: PushResult[]): Promise<void> {
    const byMid = new Map(results.map((r) => [r.mid, r]));
    const db = await this.db();
    const tx = db.transaction(['outbox', 'rejected', 'records'], 'readwrite');
    const ops: Promise<unknown>[] = [];
    // A refused put's values stay on the phone for the user to fix, but their stamps are
    // cleared (''): the next save sends them again (see unsentFields), and a pulled server
    // value, if any, wins over them.
    const unstamp = async (m: Mutation) => {
      if (m.op !== 'put') return;
      const rec = await tx.objectStore('records').get([m.entity, m.id]);
      if (!rec) return;
      let touched = false;
      for (const f of Object.keys(m.fields ?? {})) {
        if (rec.hlc[f] === m.hlc) {
          rec.hlc[f] = '';
          touched = true;
        }
      }
      if (touched) await tx.objectStore('records').put(rec);
    };
    for (const e of batch) {
      const r = byMid.get(e.mid);
      if (!r && e.mid > lastMid) continue; // not answered: stays for the next push
      if (r?.status === 'rejected') {
        const rej: RejectedEntry = {
          mid: e.mid,
          mutation: e.mutation,
          code: r.error?.code ?? 'rejected',
          message: r.error?.message ?? '',
          at: Date.now(),
        };
        if (r.error?.field) rej.field = r.error.field;
        ops.push(tx.objectStore('rejected').put(rej));
        ops.push(unstamp(e.mutation));
      }
      if (e.key !== undefined) ops.push(tx.objectStore('outbox').delete(e.key));
    }
    await Promise.all([...ops, tx.done]);
    this.changed();
  }

  /**
   * 409 mid_gap: the server expects `expected` next (e.g. it was restored from a backup).
   * Renumber the unsent mutations from there, gapless, and move the counter along.
   */
  async renumberFrom(expected: number): Promise<void> {
    const db = await this.db();
    const tx = db.transaction(['outbox', 'meta'], 'readwrite');
    const entries = (await tx.objectStore('outbox').getAll()).sort((a, b) => a.mid - b.mid);
    let mid = expected;
    // Ascending order only ever moves a mid down into a freed number (unique index).
    for (const e of entries) {
      e.mid = mid;
      e.mutation = { ...e.mutation, mid };
      await tx.objectStore('outbox').put(e);
      mid += 1;
    }
    await tx.objectStore('meta').put(mid, META.nextMid);
    await tx.done;
  }

  /**
   * 409 clock_skew: take the server's time as the clock offset and re-stamp every unsent
   * mutation (and the record fields that carry those stamps) with the corrected clock.
   */
  async restamp(serverTimeMs: number, now: number = Date.now()): Promise<void> {
    const clock = await this.clock();
    clock.offsetMs = serverTimeMs - now;
    clock.rewind(serverTimeMs);
    const db = await this.db();
    const tx = db.transaction(['outbox', 'records', 'meta'], 'readwrite');
    const entries = (await tx.objectStore('outbox').getAll()).sort((a, b) => a.mid - b.mid);
    const records = tx.objectStore('records');
    for (const e of entries) {
      const old = e.mutation.hlc;
      const stamp = clock.now(now);
      e.mutation = { ...e.mutation, hlc: stamp };
      await tx.objectStore('outbox').put(e);
      const rec = await records.get([e.mutation.entity, e.mutation.id]);
      if (rec) {
        for (const [k, v] of Object.entries(rec.hlc)) if (v === old) rec.hlc[k] = stamp;
        // `version` may still name the old stamp: recompute it.
        rec.version = Object.values(rec.hlc).reduce((a, b) => (b > a ? b : a), '');
        await records.put(rec);
      }
    }
    await tx.objectStore('meta').put(clock.offsetMs, META.clockOffset);
    await tx.objectStore('meta').put(clock.last(), META.hlcLast);
    await tx.done;
  }

  /** Keeps the offset to the server's clock from a push or pull answer. */
  async setClockOffset(serverTimeMs: number, now: number = Date.now()): Promise<void> {
    const clock = await this.clock();
    clock.offsetMs = serverTimeMs - now;
    await (await this.db()).put('meta', clock.offsetMs, META.clockOffset);
  }

  async cursors(): Promise<Record<string, number>> {
    const db = await this.db();
    const tx = db.transaction('cursors');
    const out: Record<string, number> = {};
    let c = await tx.store.openCursor();
    while (c) {
      out[String(c.key)] = c.value;
      c = await c.continue();
    }
    return out;
  }

  /**
   * One pulled page in one transaction: purge removed scopes, merge every change over the
   * local copy (unsent local edits keep their newer fields), store the new cursors.
   */
  async applyPull(page: PullResponse): Promise<void> {
    const clock = await this.clock();
    const db = await this.db();
    const tx = db.transaction(['records', 'cursors', 'meta', 'outbox', 'rejected'], 'readwrite');
    const records = tx.objectStore('records');
    const cursors = tx.objectStore('cursors');
    const ops: Promise<unknown>[] = [];
    for (const scope of page.removed_scopes) {
      let c = await records.index('scope').openCursor(scope);
      while (c) {
        ops.push(c.delete());
        c = await c.continue();
      }
      ops.push(cursors.delete(scope));
    }
    // A pulled change is the record's whole current state on the server. With nothing
    // unsent (outbox empty) and no refused values kept for fixing, the local copy holds
    // nothing the server has not merged, so the pulled state replaces it without a read (the
    // common case: sync pushes before it pulls, and the first login). Otherwise read every
    // touched record at once (one round of requests) and merge field by field.
    const [unsent, refused] = await Promise.all([tx.objectStore('outbox').count(), tx.objectStore('rejected').count()]);
    const existing =
      unsent === 0 && refused === 0
        ? page.changes.map(() => undefined)
        : await Promise.all(page.changes.map((ch) => records.get([ch.entity, ch.id])));
    const merged = new Map<string, LocalRecord>();
    page.changes.forEach((ch, i) => {
      const key = `${ch.entity}\u0000${ch.id}`;
      const rec = mergePulled(merged.get(key) ?? existing[i], ch);
      merged.set(key, rec);
      if (rec.version) clock.observe(rec.version);
    });
    for (const rec of merged.values()) ops.push(records.put(rec));
    for (const [scope, seq] of Object.entries(page.cursors)) ops.push(cursors.put(seq, scope));
    ops.push(tx.objectStore('meta').put(page.scopes, META.scopes));
    ops.push(tx.objectStore('meta').put(clock.last(), META.hlcLast));
    await Promise.all([...ops, tx.done]);
    this.changed();
  }

  /**
   * A different user is about to use this phone: the server bound the old client_id to its
   * first user, so this device takes a new id and starts its mids and clock afresh. Only with
   * an empty outbox (clearUserData ran first). Returns the new id.
   */
  async rebindDevice(newClientId: string, userId: string): Promise<void> {
    const db = await this.db();
    const tx = db.transaction(['outbox', 'meta'], 'readwrite');
    if ((await tx.objectStore('outbox').count()) > 0) {
      tx.abort();
      await tx.done.catch(() => {});
      throw new OutboxNotEmptyError(await this.pendingCount());
    }
    const meta = tx.objectStore('meta');
    await Promise.all([
      meta.put(newClientId, 'client_id'),
      meta.delete(META.nextMid),
      meta.delete(META.hlcLast),
      meta.put(userId, META.clientOwner),
      tx.done,
    ]);
  }

  /**
   * This phone's checksum of a scope, made like the server's: over the records it pulled that
   * are live, XOR of the first 8 bytes of SHA-256(`id@version`). Only meaningful with an empty
   * outbox (local edits change versions).
   */
  async checksum(scope: string): Promise<ScopeChecksum> {
    const recs = (await (await this.db()).getAllFromIndex('records', 'scope', scope)).filter(
      (r) => r.seq > 0 && !r.deleted && r.sv,
    );
    const enc = new TextEncoder();
    const parts = await Promise.all(
      recs.map(async (r) => new DataView(await crypto.subtle.digest('SHA-256', enc.encode(`${r.id}@${r.sv}`))).getBigUint64(0)),
    );
    const xor = parts.reduce((a, b) => a ^ b, 0n);
    return { count: recs.length, xor: xor.toString(16).padStart(16, '0') };
  }

  /**
   * The local copy of a scope disagrees with the server's: forget what was pulled for it (the
   * records never accepted by the server stay) and its cursor, so the next pull starts from 0.
   */
  async resetScope(scope: string): Promise<void> {
    const db = await this.db();
    const tx = db.transaction(['records', 'cursors'], 'readwrite');
    const ops: Promise<unknown>[] = [tx.objectStore('cursors').delete(scope)];
    let c = await tx.objectStore('records').index('scope').openCursor(scope);
    while (c) {
      if (c.value.seq > 0) ops.push(c.delete());
      c = await c.continue();
    }
    await Promise.all([...ops, tx.done]);
    this.changed();
  }

  async meta<T>(key: string): Promise<T | undefined> {
    return (await (await this.db()).get('meta', key)) as T | undefined;
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    await (await this.db()).put('meta', value, key);
    this.changed();
  }

  lastSync(): Promise<number | undefined> {
    return this.meta<number>(META.lastSync);
  }

  setLastSync(ms: number): Promise<void> {
    return this.setMeta(META.lastSync, ms);
  }

  async rejected(): Promise<RejectedEntry[]> {
    return (await this.db()).getAll('rejected');
  }

  async dismissRejected(mid: number): Promise<void> {
    await (await this.db()).delete('rejected', mid);
    this.changed();
  }

  async addPhoto(p: PhotoEntry): Promise<void> {
    const db = await this.db();
    const tx = db.transaction('photos', 'readwrite');
    // The same bytes twice keep the first entry (and its upload state).
    if (!(await tx.store.get(p.digest))) await tx.store.put(p);
    await tx.done;
  }

  async photo(digest: string): Promise<PhotoEntry | undefined> {
    return (await this.db()).get('photos', digest);
  }

  async pendingPhotos(): Promise<PhotoEntry[]> {
    return (await this.db()).getAllFromIndex('photos', 'state', 'pending');
  }

  async markUploaded(digest: string): Promise<void> {
    const db = await this.db();
    const tx = db.transaction('photos', 'readwrite');
    const p = await tx.store.get(digest);
    if (p) await tx.store.put({ ...p, state: 'uploaded' });
    await tx.done;
    this.changed();
  }

  /**
   * Logout: removes every record, cursor, photo and rejected item and the session, in one
   * transaction, and refuses (OutboxNotEmptyError) while anything is unsynced. The device's
   * own keys (client_id, mid counter, clock) stay: the server keeps counting this device's mids.
   */
  async clearUserData(): Promise<void> {
    const db = await this.db();
    const tx = db.transaction([...USER_STORES, 'meta'], 'readwrite');
    const pending = await tx.objectStore('outbox').count();
    if (pending > 0) {
      tx.abort();
      await tx.done.catch(() => {});
      throw new OutboxNotEmptyError(pending);
    }
    const ops: Promise<unknown>[] = USER_STORES.map((s) => tx.objectStore(s).clear());
    for (const key of await tx.objectStore('meta').getAllKeys()) {
      if (!DEVICE_META.has(String(key))) ops.push(tx.objectStore('meta').delete(key));
    }
    await Promise.all([...ops, tx.done]);
    this.changed();
  }
}
