// The campaign configuration form (pure): the server's config ⇄ the strings in the inputs.
// Rate targets are shown as percentages (95 for 0.95). Field keys are the server's dotted
// paths, so a 400's `field` lands on its input.

export interface CampaignConfig {
  name: string;
  dates: Record<DateKey, string>;
  targets: {
    registration_rate: number;
    visit_coverage: number;
    sweep_coverage: number;
    tenant_registration: number;
    banners: number;
    slogans_per_compound: number;
    vehicle_runs: number;
    broadcasts: number;
    red_review_hours: number;
    yellow_review_days: number;
  };
  weights: Record<WeightKey, number>;
  bonus_per_den: number;
  penalty_per_overdue_red: number;
  penalty_per_case: number;
}

export const DATE_KEYS = ['start', 'mobilisation', 'publicity', 'assessment', 'registration', 'sweep_end'] as const;
export type DateKey = (typeof DATE_KEYS)[number];
export const RATE_KEYS = ['registration_rate', 'visit_coverage', 'sweep_coverage', 'tenant_registration'] as const;
export const COUNT_KEYS = ['banners', 'slogans_per_compound', 'vehicle_runs', 'broadcasts', 'red_review_hours', 'yellow_review_days'] as const;
export const WEIGHT_KEYS = ['registration_rate', 'visit_coverage', 'sweep_coverage', 'tenant_registration', 'publicity', 'flags_in_time'] as const;
export type WeightKey = (typeof WEIGHT_KEYS)[number];
export const SCORE_KEYS = ['bonus_per_den', 'penalty_per_overdue_red', 'penalty_per_case'] as const;

/** Every input of the form, by the server's field path. */
export type CampaignForm = Record<string, string>;

/** 0.95 → "95"; 0.333 → "33.3" (no float noise). */
export function toPercent(x: number): string {
  return String(Math.round(x * 100_000) / 1000);
}

export function formFromConfig(c: CampaignConfig): CampaignForm {
  const f: CampaignForm = { name: c.name };
  for (const k of DATE_KEYS) f[`dates.${k}`] = c.dates[k] ?? '';
  for (const k of RATE_KEYS) f[`targets.${k}`] = toPercent(c.targets[k]);
  for (const k of COUNT_KEYS) f[`targets.${k}`] = String(c.targets[k]);
  for (const k of WEIGHT_KEYS) f[`weights.${k}`] = String(c.weights[k]);
  for (const k of SCORE_KEYS) f[k] = String(c[k]);
  return f;
}

export interface FormResult {
  config: CampaignConfig | null;
  errors: Record<string, string>;
}

function parseNum(s: string | undefined): number | null {
  const v = (s ?? '').trim().replace(/[％%]$/, '');
  if (v === '' || !/^-?\d+(\.\d+)?$/.test(v)) return null;
  return Number(v);
}

/** The config to PUT, or the fields that are not numbers / dates (checked again by the server). */
export function configFromForm(f: CampaignForm): FormResult {
  const errors: Record<string, string> = {};
  const n = (key: string, check: (v: number) => string | null): number => {
    const v = parseNum(f[key]);
    if (v === null) {
      errors[key] = '请填写数字';
      return 0;
    }
    const e = check(v);
    if (e) errors[key] = e;
    return v;
  };
  const name = (f.name ?? '').trim();
  if (!name) errors.name = '名称不能为空';
  const dates = {} as Record<DateKey, string>;
  for (const k of DATE_KEYS) {
    const v = (f[`dates.${k}`] ?? '').trim();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) errors[`dates.${k}`] = '日期格式应为 年-月-日';
    dates[k] = v;
  }
  const targets = {} as CampaignConfig['targets'];
  for (const k of RATE_KEYS) {
    targets[k] = n(`targets.${k}`, (v) => (v > 0 && v <= 100 ? null : '应大于 0 且不超过 100')) / 100;
  }
  for (const k of COUNT_KEYS) {
    targets[k] = n(`targets.${k}`, (v) => (Number.isInteger(v) && v >= 0 ? null : '应为不小于 0 的整数'));
  }
  const weights = {} as Record<WeightKey, number>;
  for (const k of WEIGHT_KEYS) weights[k] = n(`weights.${k}`, (v) => (v >= 0 ? null : '不能为负数'));
  const score = {} as Record<(typeof SCORE_KEYS)[number], number>;
  for (const k of SCORE_KEYS) score[k] = n(k, (v) => (v >= 0 ? null : '不能为负数'));
  if (Object.keys(errors).length) return { config: null, errors };
  return { config: { name, dates, targets, weights, ...score }, errors };
}

/** Sum of the weights: the most a village can score before bonuses. */
export function maxPoints(c: CampaignConfig): number {
  return WEIGHT_KEYS.reduce((a, k) => a + (c.weights[k] ?? 0), 0);
}
