// A household's registration and visit status, computed on the phone from its members and
// visits with DOMAIN.md's rule (the server computes the same into `unregistered_household`
// and `not_visited` flags; this one works offline and right after an edit). Pure.

import type { LocalRecord } from './model';

export type RegStatus = 'unregistered' | 'partial' | 'registered' | 'exempt';

/**
 * unregistered: no smartphone holder living there is registered and nobody is covered;
 * partial: registered + covered < smartphone holders; exempt: nobody has a smartphone and a
 * relative's account covers them; registered otherwise.
 */
export function registrationStatus(members: LocalRecord[]): RegStatus {
  const home = members.filter((m) => m.fields.living_at_home !== false);
  const holders = home.filter((m) => m.fields.has_smartphone === true);
  const registered = holders.filter((m) => m.fields.jzz_registered === true).length;
  const covered = home.filter((m) => typeof m.fields.covered_by === 'string' && m.fields.covered_by !== '').length;
  if (holders.length === 0) return covered > 0 ? 'exempt' : 'unregistered';
  if (registered === 0 && covered === 0) return 'unregistered';
  if (registered + covered < holders.length) return 'partial';
  return 'registered';
}

/** Whether a door-to-door visit (or a sweep) is recorded for the household. */
export function isVisited(visits: LocalRecord[]): boolean {
  return visits.some((v) => v.fields.kind === 'door_to_door' || v.fields.kind === 'sweep' || v.fields.kind === undefined);
}

/** Search by address, head of household or any member's name. */
export function matches(h: LocalRecord, members: LocalRecord[], q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (!needle) return true;
  const hay = [h.fields.address, h.fields.head_name, ...members.map((m) => m.fields.name)]
    .filter((v): v is string => typeof v === 'string')
    .join(' ')
    .toLowerCase();
  return hay.includes(needle);
}

/** Rough fraud-den score of ticked indicators (the server's is authoritative). */
export function roughScore(codes: string[], points: Record<string, number>): number {
  const set = new Set(codes);
  if (set.has('A7')) set.delete('A6');
  if (set.has('E2')) set.delete('E1');
  let sum = 0;
  for (const c of set) sum += points[c] ?? 0;
  const equipment = [...set].some((c) => c.startsWith('A'));
  const behaviour = [...set].some((c) => c.startsWith('C') || c.startsWith('D'));
  if (equipment && behaviour) sum += 10;
  return Math.min(100, sum);
}
