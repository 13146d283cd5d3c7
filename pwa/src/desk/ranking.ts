// The ranking's view model (pure): every line of a village's score as text, and a check that
// the lines, bonuses and penalties add up to the total the server sent.

import { pct, pts, signed } from './format';

export interface RankLine {
  code: string;
  label: string;
  value: number | null;
  target: number;
  weight: number;
  points: number;
  detail: string;
}

export interface Adjustment {
  code: string;
  label: string;
  count: number;
  each: number;
  points: number;
}

export interface RankedVillage {
  rank: number;
  village_id: string;
  village_name: string;
  lines: RankLine[];
  bonuses: Adjustment[];
  penalties: Adjustment[];
  total: number;
}

export interface Ranking {
  campaign_version: number;
  campaign: string;
  generated_at_ms: number;
  villages: RankedVillage[];
}

export interface RowView {
  kind: 'line' | 'bonus' | 'penalty';
  code: string;
  label: string;
  value: string;
  target: string;
  weight: string;
  points: string;
  detail: string;
}

export interface VillageView {
  id: string;
  rank: number;
  name: string;
  total: string;
  rows: RowView[];
  /** "14.35 + 0 + … + 5 − 2 = 43.3" */
  sum: string;
  /** The rows add up to the total (to 0.01). */
  consistent: boolean;
}

export function villageView(v: RankedVillage): VillageView {
  const rows: RowView[] = v.lines.map((l) => ({
    kind: 'line',
    code: l.code,
    label: l.label,
    value: pct(l.value),
    target: pct(l.target),
    weight: pts(l.weight),
    points: pts(l.points),
    detail: l.detail,
  }));
  for (const [kind, list] of [
    ['bonus', v.bonuses],
    ['penalty', v.penalties],
  ] as const) {
    for (const a of list) {
      rows.push({
        kind,
        code: a.code,
        label: a.label,
        value: `${a.count} 次`,
        target: '',
        weight: `每次 ${signed(a.each)}`,
        points: signed(a.points),
        detail: `${a.count} × ${signed(a.each)} = ${signed(a.points)}`,
      });
    }
  }
  const parts = [...v.lines.map((l) => l.points), ...v.bonuses.map((a) => a.points), ...v.penalties.map((a) => a.points)];
  const computed = parts.reduce((a, b) => a + b, 0);
  const sum =
    parts
      .map((p, i) => (i === 0 ? pts(p) : p < 0 ? `− ${pts(-p)}` : `+ ${pts(p)}`))
      .join(' ') + ` = ${pts(computed)}`;
  return {
    id: v.village_id,
    rank: v.rank,
    name: v.village_name,
    total: pts(v.total),
    rows,
    sum,
    consistent: Math.abs(Math.round(computed * 100) / 100 - v.total) < 0.011,
  };
}

export function rankingView(r: Ranking): VillageView[] {
  return [...r.villages].sort((a, b) => a.rank - b.rank).map(villageView);
}
