// What every screen needs, handed down through Svelte context: the local store, the sync
// client, the API, the user, and whether a form holds unsaved input (the update prompt and
// logout wait for it).

import { getContext, setContext } from 'svelte';
import type { Api } from './api';
import type { PhotoUploader } from './photos';
import type { LocalStore } from './store';
import type { SyncClient } from './sync';
import type { User } from './types';

export interface AppContext {
  store: LocalStore;
  sync: SyncClient;
  api: Api;
  photos: PhotoUploader;
  user: User;
}

const KEY = Symbol('fangzha');

export function provide(ctx: AppContext): void {
  setContext(KEY, ctx);
}

export function app(): AppContext {
  return getContext<AppContext>(KEY);
}

/** A form with input not yet saved exists somewhere on screen. */
export const editing = $state({ dirty: false });

/**
 * A value read from the local store that re-reads after every local write or pulled page.
 * Must be called while a component initialises; `fn` may read props (they are tracked).
 */
export function live<T>(store: LocalStore, fn: () => Promise<T>, initial: T): { readonly value: T; readonly loaded: boolean } {
  let value = $state(initial) as T;
  let loaded = $state(false);
  $effect(() => {
    let alive = true;
    let gen = 0;
    const load = () => {
      const mine = ++gen;
      fn().then(
        (v) => {
          if (alive && mine === gen) {
            value = v;
            loaded = true;
          }
        },
        (e: unknown) => console.error('local read failed', e),
      );
    };
    load();
    const off = store.subscribe(load);
    return () => {
      alive = false;
      off();
    };
  });
  return {
    get value() {
      return value;
    },
    get loaded() {
      return loaded;
    },
  };
}

export function newId(): string {
  // UUID v7: time-ordered, so records sort by creation and index well on the server.
  const b = crypto.getRandomValues(new Uint8Array(16));
  const ms = Date.now();
  for (let i = 0; i < 6; i++) b[i] = Math.floor(ms / 2 ** (8 * (5 - i))) & 0xff;
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** "刚刚", "5 分钟前", or the date and time. */
export function when(ms: number | undefined | null, t: { justNow: string; minutes: (n: number) => string; hours: (n: number) => string }, now = Date.now()): string {
  if (!ms) return '';
  const d = now - ms;
  if (d < 60_000) return t.justNow;
  if (d < 3_600_000) return t.minutes(Math.floor(d / 60_000));
  if (d < 86_400_000) return t.hours(Math.floor(d / 3_600_000));
  return new Date(ms).toLocaleString('zh-CN', { hour12: false });
}
