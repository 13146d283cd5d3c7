// The police queue (pure): flagged rentals from the local store, sorted by level then age,
// filtered by level, state, village and overdue. A flag's age is the wall time of the HLC that
// set its level (as the server's figures count it, reports/figures.rs).

import { parseHlc } from '../lib/hlc';
import type { LocalRecord } from '../lib/model';

export interface AreaLite {
  id: string;
  name: string;
  level: string;
  parent_id: string | null;
}

export const LEVEL_ORDER: Record<string, number> = { red: 0, yellow: 1, green: 2, info: 3 };
export const FLAG_STATES = ['new', 'in_review', 'cleared', 'confirmed', 'referred'] as const;
export const OPEN_STATES = ['new', 'in_review'];

export interface Limits {
  redHours: number;
  yellowDays: number;
}

export interface QueueRow {
  id: string;
  rentalId: string;
  flag: LocalRecord;
  rental: LocalRecord | undefined;
  level: string;
  state: string;
  score: number;
  address: string;
  gridId: string;
  villageId: string;
  raisedMs: number;
  ageMs: number;
  overdue: boolean;
}

/** When the flag got its level (ms), from the level field's HLC; 0 when unknown. */
export function raisedAt(flag: LocalRecord): number {
  for (const f of ['level', 'score', 'kind']) {
    const h = flag.hlc?.[f];
    const p = h ? parseHlc(h) : null;
    if (p) return p.ms;
  }
  return 0;
}

/** Unreviewed past the campaign's limit: red after `redHours`, yellow after `yellowDays`. */
export function isOverdue(level: string, state: string, ageMs: number, limits: Limits): boolean {
  if (state !== 'new') return false;
  if (level === 'red') return ageMs > limits.redHours * 3_600_000;
  if (level === 'yellow') return ageMs > limits.yellowDays * 86_400_000;
  return false;
}

/** The village an area belongs to (itself when it is one); '' when none. */
export function villageOf(areaId: string, areas: Map<string, AreaLite>): string {
  let a = areas.get(areaId);
  for (let i = 0; a && i < 10; i++) {
    if (a.level === 'village') return a.id;
    a = a.parent_id ? areas.get(a.parent_id) : undefined;
  }
  return '';
}

export function buildQueue(
  flags: LocalRecord[],
  rentals: Map<string, LocalRecord>,
  areas: AreaLite[],
  limits: Limits,
  now: number,
): QueueRow[] {
  const byId = new Map(areas.map((a) => [a.id, a]));
  const rows: QueueRow[] = [];
  for (const f of flags) {
    const x = f.fields;
    if (f.deleted || x.kind !== 'fraud_risk' || x.active === false) continue;
    if (x.subject_entity !== undefined && x.subject_entity !== 'rental') continue;
    const rentalId = String(x.subject_id ?? '');
    const rental = rentals.get(rentalId);
    const level = String(x.level ?? 'green');
    const state = String(x.state ?? 'new');
    const raisedMs = raisedAt(f);
    const ageMs = raisedMs ? Math.max(0, now - raisedMs) : 0;
    const gridId = rental?.scope ?? f.scope;
    rows.push({
      id: f.id,
      rentalId,
      flag: f,
      rental,
      level,
      state,
      score: Number(x.score ?? 0),
      address: String(rental?.fields.address ?? ''),
      gridId,
      villageId: villageOf(gridId, byId),
      raisedMs,
      ageMs,
      overdue: raisedMs > 0 && isOverdue(level, state, ageMs, limits),
    });
  }
  return sortQueue(rows);
}

/** Red before yellow before green; within a level the longest waiting first, then score. */
export function sortQueue(rows: QueueRow[]): QueueRow[] {
  return [...rows].sort(
    (a, b) =>
      (LEVEL_ORDER[a.level] ?? 9) - (LEVEL_ORDER[b.level] ?? 9) ||
      b.ageMs - a.ageMs ||
      b.score - a.score ||
      a.id.localeCompare(b.id),
  );
}

export interface QueueFilter {
  /** '' = every level. */
  level: string;
  /** '' = every state, 'open' = new or in review. */
  state: string;
  /** '' = every village. */
  village: string;
  overdue: boolean;
}

export const DEFAULT_FILTER: QueueFilter = { level: '', state: 'open', village: '', overdue: false };

export function filterQueue(rows: QueueRow[], f: QueueFilter): QueueRow[] {
  return rows.filter(
    (r) =>
      (!f.level || r.level === f.level) &&
      (!f.state || (f.state === 'open' ? OPEN_STATES.includes(r.state) : r.state === f.state)) &&
      (!f.village || r.villageId === f.village) &&
      (!f.overdue || r.overdue),
  );
}

/** Counts for the queue's heading. */
export function queueCounts(rows: QueueRow[]): { red: number; yellow: number; overdue: number; open: number } {
  let red = 0;
  let yellow = 0;
  let overdue = 0;
  let open = 0;
  for (const r of rows) {
    if (!OPEN_STATES.includes(r.state)) continue;
    open++;
    if (r.level === 'red') red++;
    if (r.level === 'yellow') yellow++;
    if (r.overdue) overdue++;
  }
  return { red, yellow, overdue, open };
}
