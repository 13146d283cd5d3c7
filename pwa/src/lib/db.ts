// The one local database, "fangzha", and its versioned upgrades. Version 1 (the app shell)
// had only `meta`; version 2 adds the offline data. Upgrades only add: a phone that was
// logged in under version 1 keeps its session and client_id.
//
//   meta       key → value: session, client_id, next_mid, hlc_last, clock_offset, last_sync…
//   records    [entity, id] → LocalRecord (indexes: scope, [entity, scope], [entity, parent])
//   outbox     autoincrement → OutboxEntry (unique index mid): what the server has not answered
//   cursors    scope → last pulled seq
//   photos     digest → PhotoEntry (Blob + upload state)
//   rejected   mid → RejectedEntry: refused by the server, for the user to fix

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { LocalRecord, OutboxEntry, PhotoEntry, RejectedEntry } from './model';

export const DB_NAME = 'fangzha';
export const DB_VERSION = 2;

export interface FangzhaDB extends DBSchema {
  meta: { key: string; value: unknown };
  records: {
    key: [string, string];
    value: LocalRecord;
    indexes: { scope: string; entity_scope: [string, string]; entity_parent: [string, string] };
  };
  outbox: { key: number; value: OutboxEntry; indexes: { mid: number } };
  cursors: { key: string; value: number };
  photos: { key: string; value: PhotoEntry; indexes: { state: string } };
  rejected: { key: number; value: RejectedEntry };
}

export type Db = IDBPDatabase<FangzhaDB>;

/** The stores that hold a user's data (cleared at logout); `meta` is handled key by key. */
export const USER_STORES = ['records', 'outbox', 'cursors', 'photos', 'rejected'] as const;

const connections = new Map<string, Promise<Db>>();

/** Opens (and upgrades) the database; one shared connection per name in this page. */
export function openFangzha(name: string = DB_NAME): Promise<Db> {
  let p = connections.get(name);
  if (p) return p;
  p = openDB<FangzhaDB>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) db.createObjectStore('meta');
      if (oldVersion < 2) {
        const records = db.createObjectStore('records', { keyPath: ['entity', 'id'] });
        records.createIndex('scope', 'scope');
        records.createIndex('entity_scope', ['entity', 'scope']);
        records.createIndex('entity_parent', ['entity', 'parent']);
        const outbox = db.createObjectStore('outbox', { keyPath: 'key', autoIncrement: true });
        outbox.createIndex('mid', 'mid', { unique: true });
        db.createObjectStore('cursors');
        const photos = db.createObjectStore('photos', { keyPath: 'digest' });
        photos.createIndex('state', 'state');
        db.createObjectStore('rejected', { keyPath: 'mid' });
      }
    },
    // A newer version of the app (another tab) wants to upgrade: let it.
    blocking() {
      void p?.then((db) => db.close());
      connections.delete(name);
    },
    terminated() {
      connections.delete(name);
    },
  });
  connections.set(name, p);
  p.catch(() => {
    if (connections.get(name) === p) connections.delete(name);
  });
  return p;
}

/** Closes the shared connection (tests, and before deleting the database). */
export async function closeFangzha(name: string = DB_NAME): Promise<void> {
  const p = connections.get(name);
  connections.delete(name);
  if (p) (await p.catch(() => null))?.close();
}
