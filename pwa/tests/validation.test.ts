import table from '../../tests/fixtures/validation_cases.json';
import { describe, expect, it } from 'vitest';
import { fieldKind } from '../src/lib/entities';
import { checkIdNumber, checkValue, idCheckChar, validateFields } from '../src/lib/validate';

interface Case {
  entity: string;
  field: string;
  value: unknown;
  ok: boolean;
  code?: string;
}

// Shared with the server's Rust tests (check_value): same file, same expectations.
const cases = table as Case[];

describe('validation table (tests/fixtures/validation_cases.json)', () => {
  it('has at least 40 cases and covers every kind', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    const kinds = new Set(cases.map((c) => fieldKind(c.entity, c.field)?.k));
    for (const k of ['text', 'number', 'count', 'bool', 'date', 'time', 'enum', 'codes', 'id_number', 'phone', 'ref', 'uuid', 'photos', 'list']) {
      expect(kinds.has(k as never), k).toBe(true);
    }
  });

  for (const c of cases) {
    const shown = JSON.stringify(c.value);
    it(`${c.entity}.${c.field} = ${shown.length > 40 ? shown.slice(0, 40) + '…' : shown} → ${c.ok ? 'ok' : c.code}`, () => {
      const kind = fieldKind(c.entity, c.field);
      expect(kind, 'field exists').toBeDefined();
      const err = checkValue(kind!, c.value, 'resident_id');
      if (c.ok) expect(err).toBeNull();
      else expect(err?.code).toBe(c.code);
    });
  }
});

describe('ID numbers and records', () => {
  it('computes the GB 11643 check character', () => {
    expect(idCheckChar('11010519491231002')).toBe('X');
    expect(checkIdNumber('11010519491231002X', [2026, 12, 1])).toBeNull();
  });

  it('a birth date after today is refused', () => {
    const id = `43122420270101001${idCheckChar('43122420270101001')}`;
    expect(checkIdNumber(id, [2026, 12, 1])).not.toBeNull();
    expect(checkIdNumber(id, [2027, 1, 1])).toBeNull();
  });

  it('other ID types are not checked against GB 11643', () => {
    expect(validateFields('tenant', { id_type: 'passport', id_number: 'E12345678' })).toEqual({});
    expect(validateFields('tenant', { id_number: 'E12345678' }, 'passport')).toEqual({});
    expect(validateFields('tenant', { id_number: 'E12345678' })).toHaveProperty('id_number');
    expect(validateFields('tenant', { id_type: 'passport', id_number: '  ' }).id_number?.code).toBe('invalid_value');
  });

  it('unknown fields are named', () => {
    expect(validateFields('household', { colour: 'red' }).colour?.code).toBe('unknown_field');
  });
});
