// Showing field values in Chinese.

import { t } from '../i18n/zh-CN';
import { FORMS } from './forms';

export function valueLabel(entity: string, field: string, v: unknown): string {
  if (v === null || v === undefined || v === '') return '';
  if (v === true) return t.app.yesNo.yes;
  if (v === false) return t.app.yesNo.no;
  const spec = FORMS[entity]?.find((s) => s.name === field);
  if (spec?.options && typeof v === 'string') return t.app.enums[spec.options]?.[v] ?? v;
  if (spec?.input === 'datetime' && typeof v === 'number') return new Date(v).toLocaleString('zh-CN', { hour12: false });
  if (field === 'photos' && Array.isArray(v)) return t.app.photos.count(v.length);
  if (Array.isArray(v)) return v.join('、');
  return String(v);
}

/** The filled fields of a record worth showing in a summary, as [label, value]. */
export function facts(entity: string, fields: Record<string, unknown>, skip: string[] = []): [string, string][] {
  const out: [string, string][] = [];
  for (const s of FORMS[entity] ?? []) {
    if (s.input === 'photos' || s.input === 'member' || skip.includes(s.name)) continue;
    const v = valueLabel(entity, s.name, fields[s.name]);
    if (v) out.push([t.app.fields[entity]?.[s.name] ?? s.name, v]);
  }
  return out;
}
