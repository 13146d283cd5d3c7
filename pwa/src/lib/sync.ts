// The sync client (SYNC.md "Push" and "Pull"): push the outbox in batches of consecutive mids,
// then pull every scope while `has_more`. One run at a time in the whole browser (Web Locks,
// or an IndexedDB lease where navigator.locks is missing). Failures back off exponentially
// with jitter; a run is started on start-up, on `online`, after each save, from the button and
// every few minutes while the app is open.
//
// What each server answer means here:
//   network error / 5xx / 429   keep everything, retry later (Retry-After when given)
//   409 mid_gap {expected}      the server lost or never saw mids: renumber the outbox from
//                               `expected` and push again
//   409 clock_skew              this phone's clock is ahead: take the server's time as the
//                               offset, re-stamp the unsent mutations, push again
//   401                         api.ts refreshes the tokens once and retries; if that fails the
//                               user must log in again (nothing local is dropped)
//   426                         the app is too old: stop syncing and say so
//   result "rejected"           the mutation moves to `rejected` for the user to fix

import { ApiError, isApiError, type Api } from './api';
import type { LocalStore } from './store';
import type { PullResponse, PushResponse } from './model';

export const SCHEMA = 1;

export type SyncState = 'idle' | 'syncing' | 'offline' | 'error' | 'login_required' | 'update_required';

export interface SyncStatus {
  state: SyncState;
  /** Chinese text of the last failure (null when the last run went through). */
  message: string | null;
  /** When the next automatic try happens (ms), when one is scheduled after a failure. */
  retryAt: number | null;
}

export interface SyncOptions {
  store: LocalStore;
  api: Api;
  clientId: string;
  batchSize?: number;
  pullLimit?: number;
  /** Runs fn exclusively across tabs, or returns null when another tab is syncing. */
  lock?: <T>(fn: () => Promise<T>) => Promise<T | null>;
  random?: () => number;
  now?: () => number;
}

/** Exponential backoff with full jitter: 2 s, 4 s, 8 s … up to 5 min, times a random factor. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(300_000, 2000 * 2 ** Math.min(attempt, 20));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

export class SyncStopped extends Error {
  constructor(readonly state: SyncState) {
    super(state);
    this.name = 'SyncStopped';
  }
}

export class SyncClient {
  private readonly store: LocalStore;
  private readonly api: Api;
  private readonly clientId: string;
  private batchSize: number;
  private readonly pullLimit: number;
  private readonly lock: <T>(fn: () => Promise<T>) => Promise<T | null>;
  private readonly random: () => number;
  private readonly now: () => number;
  private running: Promise<boolean> | null = null;
  private again = false;
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private listeners = new Set<(s: SyncStatus) => void>();
  status: SyncStatus = { state: 'idle', message: null, retryAt: null };
  /** Hook for work that follows a successful run (photo uploads). */
  afterSync: (() => void) | null = null;

  constructor(opts: SyncOptions) {
    this.store = opts.store;
    this.api = opts.api;
    this.clientId = opts.clientId;
    this.batchSize = opts.batchSize ?? 500;
    this.pullLimit = opts.pullLimit ?? 2000;
    this.lock = opts.lock ?? ((fn) => syncLock(opts.store, opts.clientId, fn));
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
  }

  subscribe(fn: (s: SyncStatus) => void): () => void {
    this.listeners.add(fn);
    fn(this.status);
    return () => this.listeners.delete(fn);
  }

  private set(status: Partial<SyncStatus>): void {
    this.status = { ...this.status, ...status };
    for (const fn of this.listeners) fn(this.status);
  }

  /** Whether syncing has stopped for good (login or update needed). */
  get stopped(): boolean {
    return this.status.state === 'login_required' || this.status.state === 'update_required';
  }

  /**
   * One sync run now (or joins the one in progress, and runs once more after it, so a save
   * made during a run is pushed). Resolves true when push and pull went through. Never throws.
   */
  sync(): Promise<boolean> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async loop(): Promise<boolean> {
    let ok = false;
    do {
      this.again = false;
      ok = await this.attempt();
    } while (ok && this.again);
    return ok;
  }

  private async attempt(): Promise<boolean> {
    if (this.stopped) return false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.set({ state: 'syncing', retryAt: null });
    try {
      const ran = await this.lock(() => this.runOnce());
      if (ran === null) {
        // Another tab is syncing the same database right now: its results are ours.
        this.set({ state: 'idle' });
        return true;
      }
      this.failures = 0;
      this.set({ state: 'idle', message: null });
      this.afterSync?.();
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private fail(e: unknown): void {
    if (e instanceof SyncStopped) {
      this.set({ state: e.state, message: e.message, retryAt: null });
      return;
    }
    if (isApiError(e) && e.kind === 'unauthorized') {
      this.set({ state: 'login_required', message: e.message, retryAt: null });
      return;
    }
    if (isApiError(e) && e.status === 426) {
      this.set({ state: 'update_required', message: e.message, retryAt: null });
      return;
    }
    let delay = backoffDelay(this.failures++, this.random);
    if (isApiError(e) && e.retryAfter !== null) delay = Math.max(delay, e.retryAfter * 1000);
    const retryAt = this.now() + delay;
    const offline = isApiError(e) && e.kind === 'network';
    const message = isApiError(e) ? e.message : String(e);
    if (!isApiError(e)) console.error('sync failed', e);
    this.set({ state: offline ? 'offline' : 'error', message, retryAt });
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.sync();
    }, delay);
  }

  /** Push everything, then pull everything. Throws on failure. */
  async runOnce(): Promise<void> {
    await this.push();
    await this.pull();
    await this.store.setLastSync(this.now());
  }

  private async push(): Promise<void> {
    let gapRetries = 0;
    let skewRetries = 0;
    for (;;) {
      const batch = await this.store.outbox(this.batchSize);
      if (batch.length === 0) return;
      let res: PushResponse;
      try {
        res = await this.api.postJson<PushResponse>('/api/sync/push', {
          client_id: this.clientId,
          schema: SCHEMA,
          mutations: batch.map((e) => e.mutation),
        });
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        const body = e.body ?? {};
        if (e.status === 409 && e.code === 'mid_gap' && typeof body.expected === 'number' && gapRetries++ < 3) {
          await this.store.renumberFrom(body.expected);
          continue;
        }
        if (e.status === 409 && e.code === 'clock_skew' && typeof body.server_time_ms === 'number' && skewRetries++ < 3) {
          await this.store.restamp(body.server_time_ms, this.now());
          continue;
        }
        if (e.status === 413 && this.batchSize > 1) {
          this.batchSize = Math.max(1, Math.floor(batch.length / 2));
          continue;
        }
        throw e;
      }
      await this.store.setClockOffset(res.server_time_ms, this.now());
      await this.store.settle(batch, res.last_mid, res.results ?? []);
      const answered = batch.filter((e) => e.mid <= res.last_mid || res.results?.some((r) => r.mid === e.mid));
      if (answered.length === 0) throw new Error('push answered none of the batch');
    }
  }

  /** Scope → the server checksum this phone last matched (no need to recompute it). */
  private verified = new Map<string, string>();

  private async pull(): Promise<void> {
    const resynced = new Set<string>();
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await this.api.postJson<PullResponse>('/api/sync/pull', {
        client_id: this.clientId,
        schema: SCHEMA,
        cursors: await this.store.cursors(),
        limit: this.pullLimit,
      });
      await this.store.applyPull({
        ...page,
        removed_scopes: page.removed_scopes ?? [],
        changes: page.changes ?? [],
        cursors: page.cursors ?? {},
        scopes: page.scopes ?? [],
      });
      if (typeof page.server_time_ms === 'number') await this.store.setClockOffset(page.server_time_ms, this.now());
      const diverged = await this.diverged(page, resynced);
      for (const scope of diverged) {
        // Once per run: a scope that still disagrees after a full pull is left for next time.
        resynced.add(scope);
        await this.store.resetScope(scope);
      }
      if (!page.has_more && diverged.length === 0) return;
    }
  }

  /**
   * Scopes whose local copy disagrees with the checksum the server sent for a caught-up
   * scope (SYNC-STORAGE.md): divergence from a bug or a restored backup, repaired by pulling
   * the scope again from 0. Checked only with nothing unsent.
   */
  private async diverged(page: PullResponse, resynced: Set<string>): Promise<string[]> {
    const sums = page.checksums ?? {};
    if (Object.keys(sums).length === 0 || (await this.store.pendingCount()) > 0) return [];
    const touched = new Set((page.changes ?? []).map((c) => c.scope));
    const out: string[] = [];
    for (const [scope, sum] of Object.entries(sums)) {
      const key = `${sum.count}:${sum.xor}`;
      if (this.verified.get(scope) === key && !touched.has(scope)) continue;
      const mine = await this.store.checksum(scope);
      if (mine.count === sum.count && mine.xor === sum.xor.toLowerCase()) {
        this.verified.set(scope, key);
      } else if (!resynced.has(scope)) {
        console.warn('checksum mismatch, pulling the scope again', scope, mine, sum);
        this.verified.delete(scope);
        out.push(scope);
      }
    }
    return out;
  }

  /**
   * Automatic runs while the app is open: now, on `online`, when the page becomes visible,
   * and every `periodMs`. Returns a function that stops them.
   */
  startAuto(periodMs = 120_000): () => void {
    const kick = () => {
      if (typeof navigator === 'undefined' || navigator.onLine !== false) void this.sync();
    };
    const visible = () => {
      if (document.visibilityState === 'visible') kick();
    };
    window.addEventListener('online', kick);
    document.addEventListener('visibilitychange', visible);
    const interval = setInterval(kick, periodMs);
    kick();
    return () => {
      window.removeEventListener('online', kick);
      document.removeEventListener('visibilitychange', visible);
      clearInterval(interval);
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
    };
  }
}

const LEASE_KEY = 'sync_lease';
const LEASE_MS = 60_000;

/**
 * One sync at a time across tabs: a Web Lock when the browser has them (released even when a
 * tab dies), else a lease in IndexedDB that runs out after a minute. Null = someone else holds it.
 */
export async function syncLock<T>(
  store: LocalStore,
  owner: string,
  fn: () => Promise<T>,
): Promise<T | null> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (locks) {
    return locks.request('fangzha-sync', { ifAvailable: true }, async (lock) => (lock ? fn() : null));
  }
  const me = `${owner}:${Math.random().toString(36).slice(2)}`;
  const db = await store.db();
  const tx = db.transaction('meta', 'readwrite');
  const lease = (await tx.store.get(LEASE_KEY)) as { owner: string; until: number } | undefined;
  if (lease && lease.until > Date.now()) {
    await tx.done;
    return null;
  }
  await tx.store.put({ owner: me, until: Date.now() + LEASE_MS }, LEASE_KEY);
  await tx.done;
  try {
    return await fn();
  } finally {
    const rx = db.transaction('meta', 'readwrite');
    const cur = (await rx.store.get(LEASE_KEY)) as { owner: string } | undefined;
    if (cur?.owner === me) await rx.store.delete(LEASE_KEY);
    await rx.done;
  }
}
