// The desk's pure parts: queue sorting / filtering / overdue, the ranking view model, the
// campaign form ⇄ config conversion, the map projection.
import { describe, expect, it } from 'vitest';
import { formatHlc } from '../src/lib/hlc';
import type { LocalRecord } from '../src/lib/model';
import { buildQueue, filterQueue, isOverdue, queueCounts, sortQueue, villageOf, DEFAULT_FILTER, type AreaLite } from '../src/desk/queue';
import { rankingView, villageView, type RankedVillage } from '../src/desk/ranking';
import { configFromForm, formFromConfig, maxPoints, toPercent, type CampaignConfig } from '../src/desk/campaign';
import { boundsOf, fit, fitMercator, merc, pathOf, ringsOf, tilesFor, zoomAt } from '../src/desk/geo';
import { maskId, maskPhone, pct, pts, signed } from '../src/desk/format';

const H = 3_600_000;
const NOW = Date.UTC(2021, 5, 10, 12);

function rec(entity: string, id: string, scope: string, fields: Record<string, unknown>, levelAt?: number): LocalRecord {
  const hlc: Record<string, string> = {};
  if (levelAt !== undefined) hlc.level = formatHlc({ ms: levelAt, counter: 0, node: 'server' });
  return { entity, id, scope, fields, hlc, deleted: false, parent: String(fields.subject_id ?? ''), seq: 1, version: '' };
}

const AREAS: AreaLite[] = [
  { id: 't', name: '镇', level: 'township', parent_id: null },
  { id: 'v1', name: '东山村', level: 'village', parent_id: 't' },
  { id: 'v2', name: '北坪村', level: 'village', parent_id: 't' },
  { id: 'g1', name: '东山一格', level: 'grid', parent_id: 'v1' },
  { id: 'g2', name: '北坪一格', level: 'grid', parent_id: 'v2' },
];

const rentals = new Map(
  [rec('rental', 'r1', 'g1', { address: '东山 1 号' }), rec('rental', 'r2', 'g2', { address: '北坪 2 号' }), rec('rental', 'r3', 'g1', { address: '东山 3 号' }), rec('rental', 'r4', 'g2', { address: '北坪 4 号' })].map((r) => [r.id, r]),
);
const flag = (id: string, rental: string, scope: string, level: string, state: string, hoursAgo: number, extra: Record<string, unknown> = {}) =>
  rec('flag', id, scope, { kind: 'fraud_risk', subject_entity: 'rental', subject_id: rental, level, state, score: level === 'red' ? 45 : 25, active: true, ...extra }, NOW - hoursAgo * H);

const FLAGS = [
  flag('f1', 'r1', 'g1', 'yellow', 'new', 200),
  flag('f2', 'r2', 'g2', 'red', 'new', 2),
  flag('f3', 'r3', 'g1', 'red', 'new', 30),
  flag('f4', 'r4', 'g2', 'red', 'cleared', 50),
  rec('flag', 'f5', 'g1', { kind: 'unregistered_household', subject_entity: 'household', subject_id: 'h1', level: 'red', state: 'new' }, NOW),
  flag('f6', 'r1', 'g1', 'red', 'new', 100, { active: false }),
];
const LIMITS = { redHours: 24, yellowDays: 7 };

describe('police queue', () => {
  const rows = buildQueue(FLAGS, rentals, AREAS, LIMITS, NOW);

  it('keeps active fraud-risk flags on rentals only', () => {
    expect(rows.map((r) => r.id).sort()).toEqual(['f1', 'f2', 'f3', 'f4']);
  });

  it('sorts red before yellow, then the longest waiting first', () => {
    expect(rows.map((r) => r.id)).toEqual(['f4', 'f3', 'f2', 'f1']);
    expect(sortQueue([...rows].reverse()).map((r) => r.id)).toEqual(['f4', 'f3', 'f2', 'f1']);
  });

  it('marks red flags still new past red_review_hours, and yellow past yellow_review_days', () => {
    const by = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(by.f3!.overdue).toBe(true); // 30 h > 24 h
    expect(by.f2!.overdue).toBe(false); // 2 h
    expect(by.f4!.overdue).toBe(false); // reviewed
    expect(by.f1!.overdue).toBe(true); // 200 h > 7 days
    expect(isOverdue('red', 'new', 24 * H, LIMITS)).toBe(false);
    expect(isOverdue('red', 'new', 24 * H + 1, LIMITS)).toBe(true);
    expect(isOverdue('red', 'in_review', 99 * H, LIMITS)).toBe(false);
    expect(isOverdue('red', 'new', 30 * H, { redHours: 48, yellowDays: 7 })).toBe(false);
  });

  it('derives the village and age', () => {
    const f3 = rows.find((r) => r.id === 'f3')!;
    expect(f3.villageId).toBe('v1');
    expect(f3.ageMs).toBe(30 * H);
    expect(f3.address).toBe('东山 3 号');
    expect(villageOf('v2', new Map(AREAS.map((a) => [a.id, a])))).toBe('v2');
    expect(villageOf('nowhere', new Map())).toBe('');
  });

  it('filters by level, state, village and overdue', () => {
    expect(filterQueue(rows, DEFAULT_FILTER).map((r) => r.id)).toEqual(['f3', 'f2', 'f1']);
    expect(filterQueue(rows, { ...DEFAULT_FILTER, level: 'red' }).map((r) => r.id)).toEqual(['f3', 'f2']);
    expect(filterQueue(rows, { ...DEFAULT_FILTER, state: '' }).length).toBe(4);
    expect(filterQueue(rows, { ...DEFAULT_FILTER, state: 'cleared' }).map((r) => r.id)).toEqual(['f4']);
    expect(filterQueue(rows, { ...DEFAULT_FILTER, village: 'v2' }).map((r) => r.id)).toEqual(['f2']);
    expect(filterQueue(rows, { ...DEFAULT_FILTER, overdue: true }).map((r) => r.id)).toEqual(['f3', 'f1']);
    expect(queueCounts(rows)).toEqual({ red: 2, yellow: 1, overdue: 2, open: 3 });
  });
});

describe('ranking view', () => {
  const v: RankedVillage = {
    rank: 1,
    village_id: 'v1',
    village_name: '北坪村',
    lines: [
      { code: 'registration_rate', label: '注册率', value: 0.45454545, target: 0.95, weight: 30, points: 14.35, detail: '20 / 44' },
      { code: 'flags_in_time', label: '按时核查', value: null, target: 1, weight: 10, points: 10, detail: '无到期' },
    ],
    bonuses: [{ code: 'den', label: '确认窝点', count: 1, each: 5, points: 5 }],
    penalties: [{ code: 'overdue_red', label: '超时红色提示', count: 2, each: -2, points: -4 }],
    total: 25.35,
  };

  it('shows every line, bonus and penalty with signs and percentages', () => {
    const x = villageView(v);
    expect(x.rows.map((r) => r.kind)).toEqual(['line', 'line', 'bonus', 'penalty']);
    expect(x.rows[0]).toMatchObject({ value: '45.5%', target: '95.0%', weight: '30', points: '14.35' });
    expect(x.rows[1]!.value).toBe('—');
    expect(x.rows[2]!.points).toBe('+5');
    expect(x.rows[3]).toMatchObject({ points: '−4', detail: '2 × −2 = −4' });
    expect(x.sum).toBe('14.35 + 10 + 5 − 4 = 25.35');
    expect(x.consistent).toBe(true);
  });

  it('notices when the lines do not add up to the total', () => {
    expect(villageView({ ...v, total: 30 }).consistent).toBe(false);
  });

  it('orders villages by rank', () => {
    const r = rankingView({ campaign: 'c', campaign_version: 1, generated_at_ms: 0, villages: [{ ...v, rank: 2, village_id: 'b' }, { ...v, village_id: 'a' }] });
    expect(r.map((x) => x.id)).toEqual(['a', 'b']);
  });
});

const CONFIG: CampaignConfig = {
  name: '专项行动',
  dates: { start: '2021-05-10', mobilisation: '2021-05-18', publicity: '2021-05-31', assessment: '2021-06-15', registration: '2021-06-30', sweep_end: '2021-07-10' },
  targets: { registration_rate: 0.95, visit_coverage: 1, sweep_coverage: 1, tenant_registration: 0.95, banners: 2, slogans_per_compound: 5, vehicle_runs: 1, broadcasts: 1, red_review_hours: 24, yellow_review_days: 7 },
  weights: { registration_rate: 30, visit_coverage: 20, sweep_coverage: 20, tenant_registration: 10, publicity: 10, flags_in_time: 10 },
  bonus_per_den: 5,
  penalty_per_overdue_red: 2,
  penalty_per_case: 3,
};

describe('campaign form', () => {
  it('shows rates as percentages and converts back exactly', () => {
    const f = formFromConfig(CONFIG);
    expect(f['targets.registration_rate']).toBe('95');
    expect(f['dates.sweep_end']).toBe('2021-07-10');
    expect(f['weights.publicity']).toBe('10');
    expect(configFromForm(f)).toEqual({ config: CONFIG, errors: {} });
    expect(toPercent(0.333)).toBe('33.3');
    expect(maxPoints(CONFIG)).toBe(100);
  });

  it('accepts "95%" and reports bad inputs by the server field name', () => {
    const f = formFromConfig(CONFIG);
    f['targets.visit_coverage'] = '90%';
    expect(configFromForm(f).config?.targets.visit_coverage).toBe(0.9);
    f['targets.sweep_coverage'] = '120';
    f['weights.publicity'] = 'abc';
    f['dates.start'] = '2021/5/10';
    f['targets.banners'] = '1.5';
    const r = configFromForm(f);
    expect(r.config).toBeNull();
    expect(Object.keys(r.errors).sort()).toEqual(['dates.start', 'targets.banners', 'targets.sweep_coverage', 'weights.publicity']);
  });
});

describe('map geometry', () => {
  const square = { type: 'Polygon', coordinates: [[[113, 28], [113.01, 28], [113.01, 28.01], [113, 28.01], [113, 28]]] };

  it('reads rings from GeoJSON shapes', () => {
    expect(ringsOf(square)).toHaveLength(1);
    expect(ringsOf({ type: 'Feature', geometry: square })).toHaveLength(1);
    expect(ringsOf({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'MultiPolygon', coordinates: [square.coordinates, square.coordinates] } }] })).toHaveLength(2);
    expect(ringsOf(null)).toEqual([]);
  });

  it('projects north up, keeps the aspect and fits inside the padding', () => {
    const b = boundsOf(ringsOf(square).flat())!;
    const p = fit(b, 400, 400, 20);
    const [x0, y0] = p([113, 28]);
    const [x1, y1] = p([113.01, 28.01]);
    expect(y1).toBeLessThan(y0); // north is up
    expect(x1).toBeGreaterThan(x0);
    // 0.01° of longitude is cos(28°) of 0.01° latitude.
    expect((x1 - x0) / (y0 - y1)).toBeCloseTo(Math.cos((28.005 * Math.PI) / 180), 3);
    expect(Math.min(x0, y1)).toBeGreaterThanOrEqual(19.99);
    expect(Math.max(x1, y0)).toBeLessThanOrEqual(380.01);
    expect(pathOf(ringsOf(square), p)).toMatch(/^M[\d.,L]+Z$/);
  });

  it('fits in Web Mercator and lists the raster tiles under the view', () => {
    expect(merc([0, 0])).toEqual([0.5, 0.5]);
    const b = boundsOf(ringsOf(square).flat())!;
    const f = fitMercator(b, 400, 400, 20);
    const [x0, y0] = f.proj([113, 28]);
    const [x1, y1] = f.proj([113.01, 28.01]);
    expect(y1).toBeLessThan(y0);
    expect(Math.min(x0, y1)).toBeGreaterThanOrEqual(19.99);
    expect(Math.max(x1, y0)).toBeLessThanOrEqual(380.01);
    const tiles = tilesFor(f, { x: 0, y: 0, k: 1 }, 400, 400, 'https://t/{z}/{x}/{y}.png');
    expect(tiles.length).toBeGreaterThan(0);
    expect(tiles.length).toBeLessThanOrEqual(200);
    // Each tile's world position is its index at its zoom: the URL and the square agree.
    const t = tiles[0]!;
    const [, z, i] = /\/(\d+)\/(\d+)\//.exec(t.url)!.map(Number);
    expect(t.x).toBeCloseTo(f.ox + (i! * f.scale) / 2 ** z!, 6);
  });

  it('zooms around the pointer', () => {
    const v = zoomAt({ x: 0, y: 0, k: 1 }, 100, 50, 2);
    expect(v).toEqual({ k: 2, x: -100, y: -50 });
    expect(zoomAt(v, 0, 0, 1000).k).toBe(40);
  });
});

describe('formatting', () => {
  it('formats for Chinese readers', () => {
    expect(pct(0.95)).toBe('95.0%');
    expect(pct(null)).toBe('—');
    expect(pts(14.349999)).toBe('14.35');
    expect(signed(-2)).toBe('−2');
    expect(maskId('431224199001011234')).toBe('4312**********1234');
    expect(maskPhone('13812345678')).toBe('138****5678');
  });
});

describe('desk by role', () => {
  it('gives police, admins and leadership the desk; cadres only on a wide screen; grid workers never', async () => {
    const { usesDesk, deskHome } = await import('../src/desk/types');
    for (const wide of [true, false]) {
      expect(usesDesk('police', wide)).toBe(true);
      expect(usesDesk('admin', wide)).toBe(true);
      expect(usesDesk('viewer', wide)).toBe(true);
      expect(usesDesk('grid_worker', wide)).toBe(false);
      expect(usesDesk('cadre', wide)).toBe(wide);
    }
    expect(usesDesk(null, true)).toBe(false);
    expect(deskHome('police')).toBe('queue');
    expect(deskHome('viewer')).toBe('dashboard');
  });
});
