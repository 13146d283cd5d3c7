// Merging on the phone (pure). The server merges field by field, greatest HLC wins, and keeps
// deletion as its own last-writer-wins register pair (SYNC.md "Clocks and merge"). The phone
// does the same when it lays a pulled state over its own copy, so an edit made here and not
// yet confirmed (its HLC is greater than the server's for that field) survives a pull.

import { type Fields, type LocalRecord, type Mutation, type PullChange, parentOf } from './model';

const DELETE = '_delete';
const RESTORE = '_restore';

export function isDeleted(hlc: Record<string, string>): boolean {
  const d = hlc[DELETE];
  return d !== undefined && d > (hlc[RESTORE] ?? '');
}

function versionOf(hlc: Record<string, string>): string {
  let v = '';
  for (const h of Object.values(hlc)) if (h > v) v = h;
  return v;
}

export function emptyRecord(entity: string, id: string, scope: string): LocalRecord {
  return { entity, id, scope, fields: {}, hlc: {}, deleted: false, parent: '', seq: 0, version: '' };
}

/** Applies a local mutation to the local copy (the same rule the server will apply). */
export function applyMutation(rec: LocalRecord | undefined, m: Mutation): LocalRecord {
  const base = rec ?? emptyRecord(m.entity, m.id, m.scope);
  const fields: Fields = { ...base.fields };
  const hlc = { ...base.hlc };
  if (m.op === 'put') {
    for (const [name, value] of Object.entries(m.fields ?? {})) {
      if ((hlc[name] ?? '') <= m.hlc) {
        fields[name] = value;
        hlc[name] = m.hlc;
      }
    }
  } else {
    const reg = m.op === 'delete' ? DELETE : RESTORE;
    if ((hlc[reg] ?? '') < m.hlc) hlc[reg] = m.hlc;
  }
  return finish(base, fields, hlc, base.seq);
}

/**
 * Lays a pulled change over the local copy: per field, the greater HLC wins, so values this
 * phone wrote later (pending in the outbox) stay. Equal HLCs take the server's value: the
 * server may have replaced a value by its masked form, which is what this user may see.
 */
export function mergePulled(local: LocalRecord | undefined, ch: PullChange): LocalRecord {
  if (!local) {
    const hlc = { ...(ch.hlc ?? {}) };
    const rec = finish(
      emptyRecord(ch.entity, ch.id, ch.scope),
      { ...(ch.fields ?? {}) },
      hlc,
      ch.seq,
    );
    // Older servers may send `deleted` without the registers.
    if (ch.deleted && !rec.deleted && hlc[DELETE] === undefined) rec.deleted = true;
    rec.sv = ch.version ?? versionOf(ch.hlc ?? {});
    return rec;
  }
  const fields: Fields = { ...local.fields };
  const hlc = { ...local.hlc };
  const incoming = ch.hlc ?? {};
  for (const [name, value] of Object.entries(ch.fields ?? {})) {
    const theirs = incoming[name] ?? '';
    if (theirs >= (hlc[name] ?? '')) {
      fields[name] = value;
      if (theirs) hlc[name] = theirs;
    }
  }
  for (const reg of [DELETE, RESTORE]) {
    const theirs = incoming[reg];
    if (theirs !== undefined && theirs > (hlc[reg] ?? '')) hlc[reg] = theirs;
  }
  const rec = finish({ ...local, scope: local.seq ? local.scope : ch.scope }, fields, hlc, ch.seq);
  if (ch.deleted && incoming[DELETE] === undefined && hlc[RESTORE] === undefined) rec.deleted = true;
  rec.sv = ch.version ?? versionOf(incoming);
  return rec;
}

function finish(base: LocalRecord, fields: Fields, hlc: Record<string, string>, seq: number): LocalRecord {
  return {
    ...base,
    fields,
    hlc,
    deleted: isDeleted(hlc),
    parent: parentOf(base.entity, fields),
    seq,
    version: versionOf(hlc),
  };
}

/** The fields of `next` that differ from `current` (a put sends only what changed). */
export function changedFields(current: Fields, next: Fields): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(next)) {
    if (v === undefined) continue;
    if (JSON.stringify(current[k] ?? null) !== JSON.stringify(v)) out[k] = v;
  }
  return out;
}

/** Fields whose last local write the server refused (stamp cleared): a save sends them again. */
export function unsentFields(rec: LocalRecord | null | undefined): Fields {
  const out: Fields = {};
  if (!rec) return out;
  for (const [k, h] of Object.entries(rec.hlc)) if (h === '' && k in rec.fields) out[k] = rec.fields[k];
  return out;
}
