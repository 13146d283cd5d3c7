import { describe, expect, it } from 'vitest';
import { INDICATOR_POINTS } from '../src/lib/entities';
import { isVisited, matches, registrationStatus, roughScore } from '../src/lib/household';
import type { LocalRecord } from '../src/lib/model';

function rec(fields: Record<string, unknown>, entity = 'member'): LocalRecord {
  return { entity, id: Math.random().toString(36), scope: 'g', fields, hlc: {}, deleted: false, parent: 'h', seq: 0, version: '' };
}

describe('household registration status (DOMAIN.md rule)', () => {
  it('no members, or no smartphone holder registered and nobody covered: unregistered', () => {
    expect(registrationStatus([])).toBe('unregistered');
    expect(registrationStatus([rec({ has_smartphone: true }), rec({ has_smartphone: true })])).toBe('unregistered');
  });
  it('some but not all smartphone holders registered or covered: partial', () => {
    expect(registrationStatus([rec({ has_smartphone: true, jzz_registered: true }), rec({ has_smartphone: true })])).toBe('partial');
  });
  it('registered + covered reaching the smartphone holders: registered', () => {
    expect(
      registrationStatus([
        rec({ has_smartphone: true, jzz_registered: true }),
        rec({ has_smartphone: true, covered_by: 'x' }),
      ]),
    ).toBe('registered');
  });
  it('members away for work do not count', () => {
    expect(
      registrationStatus([rec({ has_smartphone: true, jzz_registered: true }), rec({ has_smartphone: true, living_at_home: false })]),
    ).toBe('registered');
  });
  it('nobody has a smartphone and a relative covers them: exempt', () => {
    expect(registrationStatus([rec({ has_smartphone: false, covered_by: 'x' })])).toBe('exempt');
  });
});

describe('household list helpers', () => {
  it('a door-to-door visit counts as visited, a follow-up alone does not', () => {
    expect(isVisited([rec({ kind: 'follow_up' }, 'visit')])).toBe(false);
    expect(isVisited([rec({ kind: 'door_to_door' }, 'visit')])).toBe(true);
  });
  it('search matches address, head and member names', () => {
    const h = rec({ address: '幸福路 12 号', head_name: '王五' }, 'household');
    expect(matches(h, [rec({ name: '李四' })], '李四')).toBe(true);
    expect(matches(h, [], '幸福')).toBe(true);
    expect(matches(h, [], '张三')).toBe(false);
  });
  it('rough score: A1 alone is red (40), A7 replaces A6, equipment + behaviour adds 10', () => {
    expect(roughScore(['A1'], INDICATOR_POINTS)).toBe(40);
    expect(roughScore(['A6', 'A7'], INDICATOR_POINTS)).toBe(30);
    expect(roughScore(['A4', 'C2'], INDICATOR_POINTS)).toBe(45);
    expect(roughScore(['A1', 'A2', 'A3'], INDICATOR_POINTS)).toBe(100);
  });
});
