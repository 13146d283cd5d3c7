// Numbers as Chinese users read them: 95.0%, 1,234, +5, −2.

/** A fraction as a percentage with one decimal ("95.0%"); "—" when there is nothing to divide. */
export function pct(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${(x * 100).toFixed(digits)}%`;
}

/** A count with thousands separators. */
export function num(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('zh-CN');
}

/** Points with at most two decimals, without trailing zeros ("14.35", "10", "0.5"). */
export function pts(n: number): string {
  const r = Math.round(n * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

/** Points with their sign, for bonus and penalty lines ("+5", "−2"). */
export function signed(n: number): string {
  const s = pts(Math.abs(n));
  return n > 0 ? `+${s}` : n < 0 ? `−${s}` : '0';
}

/** Milliseconds as "3 天 4 小时" / "5 小时" / "20 分钟". */
export function duration(ms: number): string {
  const m = Math.max(0, Math.floor(ms / 60_000));
  if (m < 60) return `${m} 分钟`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} 小时`;
  const d = Math.floor(h / 24);
  const rest = h % 24;
  return rest ? `${d} 天 ${rest} 小时` : `${d} 天`;
}

/** A bar's width in percent of its track, clamped to 0..100. */
export function barWidth(x: number | null | undefined): number {
  if (x === null || x === undefined || !Number.isFinite(x)) return 0;
  return Math.max(0, Math.min(100, x * 100));
}

export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString('zh-CN', { hour12: false });
}

/** "431224199001011234" → "4312**********1234" (DOMAIN.md's masking). */
export function maskId(v: unknown): string {
  const s = typeof v === 'string' ? v : '';
  if (!s) return '';
  if (s.includes('*') || s.length <= 8) return s;
  return s.slice(0, 4) + '*'.repeat(s.length - 8) + s.slice(-4);
}

/** "13812345678" → "138****5678". */
export function maskPhone(v: unknown): string {
  const s = typeof v === 'string' ? v : '';
  if (!s) return '';
  if (s.includes('*') || s.length < 8) return s;
  return s.slice(0, 3) + '*'.repeat(s.length - 7) + s.slice(-4);
}

/** A time field (ISO string or ms) as local date and time. */
export function timeText(v: unknown): string {
  if (typeof v === 'number') return dateTime(v);
  if (typeof v === 'string' && v) {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? v : dateTime(ms);
  }
  return '';
}
