// Validation before save, with exactly the rules of the server's `check_value`
// (server/src/sync/entities.rs, server/src/domain/identity.rs). Pure. The shared table
// tests/fixtures/validation_cases.json is run by the vitest suite and by the Rust tests, so the
// two sides cannot drift apart. Error codes are the server's: invalid_type / invalid_value.

import { t } from '../i18n/zh-CN';
import { ENTITIES, type Kind } from './entities';

export type FieldErrorCode = 'invalid_type' | 'invalid_value' | 'unknown_field';

export interface FieldError {
  code: FieldErrorCode;
  message: string;
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

type Ymd = [number, number, number];

/** Today in UTC+8, the campaign's clock (as the server's `today_china`). */
export function todayChina(nowMs: number = Date.now()): Ymd {
  const d = new Date(nowMs + 8 * 3_600_000);
  return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysIn(y: number, m: number): number {
  return [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1] ?? 0;
}

/** Rust's `str::parse` of an integer: optional sign ('-' only when signed), ASCII digits. */
function rustInt(s: string, signed: boolean): number | null {
  return (signed ? /^[+-]?\d+$/ : /^\+?\d+$/).test(s) ? Number(s) : null;
}

/** The check character of the first 17 digits of a resident ID number. */
export function idCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * ID_WEIGHTS[i]!;
  return ID_CHECK[sum % 11]!;
}

/** GB 11643: null when valid, else the reason in Chinese. */
export function checkIdNumber(s: string, today: Ymd = todayChina()): string | null {
  const v = t.validation;
  if (!/^[\x00-\x7f]*$/.test(s) || s.length !== 18) return v.idLength;
  if (!/^\d{17}[\dX]$/.test(s)) return v.idChars;
  const y = Number(s.slice(6, 10));
  const m = Number(s.slice(10, 12));
  const d = Number(s.slice(12, 14));
  if (y < 1900 || y > 2100 || m < 1 || m > 12 || d === 0 || d > daysIn(y, m)) return v.idBirthInvalid;
  const [ty, tm, td] = today;
  if (y > ty || (y === ty && (m > tm || (m === tm && d > td)))) return v.idBirthFuture;
  if (idCheckChar(s) !== s[17]) return v.idCheck;
  return null;
}

/** Mainland mobile numbers: ^1[3-9]\d{9}$. */
export function checkPhone(s: string): string | null {
  return /^1[3-9]\d{9}$/.test(s) ? null : t.validation.phone;
}

/** `YYYY-MM-DD` of a real day, years 1900–2200 (the server's `parse_date`). */
export function isDate(s: string): boolean {
  if (!/^[\x00-\x7f]{10}$/.test(s) || s[4] !== '-' || s[7] !== '-') return false;
  const y = rustInt(s.slice(0, 4), true);
  const m = rustInt(s.slice(5, 7), false);
  const d = rustInt(s.slice(8, 10), false);
  if (y === null || m === null || d === null) return false;
  return m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m) && y >= 1900 && y <= 2200;
}

/** `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)` (the server's `is_iso_time`). */
export function isIsoTime(s: string): boolean {
  if (!/^[\x00-\x7f]*$/.test(s) || s.length < 17 || !isDate(s.slice(0, 10))) return false;
  let rest = s.slice(10);
  if (rest[0] !== 'T' && rest[0] !== ' ') return false;
  rest = rest.slice(1);
  let clock: string;
  let zone: string;
  if (rest.endsWith('Z')) {
    clock = rest.slice(0, -1);
    zone = 'Z';
  } else if (rest.length > 6 && (rest[rest.length - 6] === '+' || rest[rest.length - 6] === '-')) {
    clock = rest.slice(0, -6);
    zone = rest.slice(-6);
  } else {
    return false;
  }
  const hmOk = (p: string | undefined, max: number) => {
    if (p === undefined || p.length !== 2) return false;
    const n = rustInt(p, false);
    return n !== null && n <= max;
  };
  const zoneOk = zone === 'Z' || (hmOk(zone.slice(1, 3), 14) && zone[3] === ':' && hmOk(zone.slice(4, 6), 59));
  const parts = clock.split(':');
  if (parts.length < 2 || parts.length > 3) return false;
  const secOk =
    parts[2] === undefined ||
    (() => {
      const p = parts[2];
      const dot = p.indexOf('.');
      const whole = dot < 0 ? p : p.slice(0, dot);
      const frac = dot < 0 ? '0' : p.slice(dot + 1);
      return hmOk(whole, 60) && frac.length > 0 && frac.length <= 9 && /^\d+$/.test(frac);
    })();
  return hmOk(parts[0], 23) && hmOk(parts[1], 59) && secOk && zoneOk;
}

const UUID_RE =
  /^(?:urn:uuid:)?(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\})$/i;

function isObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A value's type and rule, as the server checks it. `idType` is the record's ID type (for
 * ID numbers: only resident IDs are checked against GB 11643). null = accepted.
 */
export function checkValue(
  kind: Kind,
  value: unknown,
  idType: string | null = null,
  today: Ymd = todayChina(),
): FieldError | null {
  const v = t.validation;
  const type = (message: string): FieldError => ({ code: 'invalid_type', message });
  const bad = (message: string): FieldError => ({ code: 'invalid_value', message });
  if (value === null) return null; // null clears
  switch (kind.k) {
    case 'text':
      if (typeof value !== 'string') return type(v.expectText);
      return [...value].length > 2000 ? bad(v.textTooLong) : null;
    case 'number':
      if (typeof value !== 'number') return type(v.expectNumber);
      return Number.isFinite(value) && value >= kind.min && value <= kind.max
        ? null
        : bad(v.numberRange(kind.min, kind.max));
    case 'count':
      if (typeof value !== 'number') return type(v.expectCount);
      if (!Number.isInteger(value) || value < 0) return bad(v.countNegative);
      return value > 1_000_000 ? bad(v.countTooLarge) : null;
    case 'bool':
      return typeof value === 'boolean' ? null : type(v.expectBool);
    case 'date':
      if (typeof value !== 'string') return type(v.expectDate);
      return isDate(value) ? null : bad(v.date);
    case 'time':
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return null;
      if (typeof value === 'string') return isIsoTime(value) ? null : bad(v.time);
      return type(v.expectTime);
    case 'enum':
      if (typeof value !== 'string') return type(v.expectText);
      return kind.options.includes(value) ? null : bad(v.enumValue);
    case 'codes': {
      if (!Array.isArray(value)) return type(v.expectCodes);
      const seen = new Set<string>();
      for (const item of value) {
        if (typeof item !== 'string') return type(v.expectCodes);
        if (seen.has(item)) return bad(v.codeDuplicate(item));
        if (!kind.options.includes(item)) return bad(v.codeUnknown(item));
        seen.add(item);
      }
      return null;
    }
    case 'id_number': {
      if (typeof value !== 'string') return type(v.expectText);
      if (idType === null || idType === 'resident_id') {
        const why = checkIdNumber(value, today);
        return why ? bad(why) : null;
      }
      return value.trim() === '' || [...value].length > 40 ? bad(v.docLength) : null;
    }
    case 'phone': {
      if (typeof value !== 'string') return type(v.expectText);
      const why = checkPhone(value);
      return why ? bad(why) : null;
    }
    case 'ref':
    case 'uuid':
      if (typeof value !== 'string') return type(v.expectId);
      return UUID_RE.test(value) ? null : bad(v.uuid);
    case 'photos': {
      const ok =
        Array.isArray(value) &&
        value.length <= 50 &&
        value.every((i) => typeof i === 'string' && /^[0-9a-f]{64}$/.test(i));
      return ok ? null : bad(v.photos);
    }
    case 'list':
      return Array.isArray(value) && value.every(isObject) ? null : type(v.expectList);
  }
}

/**
 * Checks the fields a put will send. `storedIdType` is the record's current id_type (an ID
 * number is checked by the type sent along, else the stored one, as the server does).
 */
export function validateFields(
  entity: string,
  fields: Record<string, unknown>,
  storedIdType: string | null = null,
  today: Ymd = todayChina(),
): Record<string, FieldError> {
  const schema = ENTITIES[entity];
  const errors: Record<string, FieldError> = {};
  const sent = fields['id_type'];
  const idType = typeof sent === 'string' ? sent : storedIdType;
  for (const [name, value] of Object.entries(fields)) {
    const kind = schema?.[name];
    if (!kind) {
      errors[name] = { code: 'unknown_field', message: t.validation.unknownField };
      continue;
    }
    const err = checkValue(kind, value, idType, today);
    if (err) errors[name] = err;
  }
  return errors;
}
