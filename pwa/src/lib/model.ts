// Shapes of the sync protocol (SYNC.md "Push", "Pull") and of the local store.

export type Fields = Record<string, unknown>;

/** The entities a phone writes, and `flag` (server-written, pulled only). */
export type EntityName =
  | 'household'
  | 'member'
  | 'rental'
  | 'tenant'
  | 'visit'
  | 'inspection'
  | 'publicity'
  | 'flag';

export type Op = 'put' | 'delete' | 'restore';

export interface Mutation {
  mid: number;
  hlc: string;
  entity: string;
  id: string;
  scope: string;
  op: Op;
  fields?: Fields;
}

/** A pulled change: the record's whole current state. */
export interface PullChange {
  scope: string;
  seq: number;
  entity: string;
  id: string;
  fields?: Fields;
  /** Per-field HLCs, plus `_delete` / `_restore` (SYNC-STORAGE.md). */
  hlc?: Record<string, string>;
  deleted: boolean;
  /** The greatest HLC in the record on the server (what checksums are made of). */
  version?: string;
}

/** SYNC-STORAGE.md "Checksum": live records of a scope the user may see. */
export interface ScopeChecksum {
  count: number;
  /** XOR of the first 8 bytes of SHA-256(`id@version`), 16 hex digits. */
  xor: string;
}

export interface PullResponse {
  scopes: string[];
  removed_scopes: string[];
  changes: PullChange[];
  cursors: Record<string, number>;
  has_more: boolean;
  server_time_ms: number;
  /** For each scope this page caught up. */
  checksums?: Record<string, ScopeChecksum>;
}

export type PushStatus = 'applied' | 'duplicate' | 'rejected';

export interface PushResult {
  mid: number;
  status: PushStatus;
  error?: { code: string; message: string; field?: string };
}

export interface PushResponse {
  last_mid: number;
  server_time_ms: number;
  server_hlc?: string;
  results: PushResult[];
}

/** One record as this phone knows it. */
export interface LocalRecord {
  entity: string;
  id: string;
  scope: string;
  fields: Fields;
  /** The HLC of each field's current value, and of the delete / restore registers. */
  hlc: Record<string, string>;
  deleted: boolean;
  /** The parent record (member → household, tenant/inspection → rental, visit → target). */
  parent: string;
  /** The scope seq of the server state this copy last took in (0 = never pulled). */
  seq: number;
  /** The greatest HLC in the record: its version. */
  version: string;
  /** The server's version of the state last pulled (for checksums). */
  sv?: string;
}

export interface OutboxEntry {
  /** Autoincrement key: insertion order. */
  key?: number;
  mid: number;
  mutation: Mutation;
  createdAt: number;
}

export interface RejectedEntry {
  mid: number;
  mutation: Mutation;
  code: string;
  message: string;
  field?: string;
  at: number;
}

export type PhotoState = 'pending' | 'uploaded';

export interface PhotoEntry {
  digest: string;
  blob: Blob;
  type: string;
  state: PhotoState;
  createdAt: number;
}

/** The field that names a record's parent, per entity. */
export const PARENT_FIELD: Record<string, string> = {
  member: 'household_id',
  tenant: 'rental_id',
  inspection: 'rental_id',
  visit: 'target_id',
  flag: 'subject_id',
};

export function parentOf(entity: string, fields: Fields): string {
  const f = PARENT_FIELD[entity];
  const v = f ? fields[f] : undefined;
  return typeof v === 'string' ? v : '';
}
