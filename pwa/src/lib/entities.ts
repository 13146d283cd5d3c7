// The entities and fields the server accepts (server/src/sync/entities.rs), with the same
// kinds, so that the phone validates before saving with the server's rules. Keep in step
// with entities.rs; tests/fixtures/validation_cases.json is checked by both sides.

export type Kind =
  | { k: 'text' }
  | { k: 'number'; min: number; max: number }
  | { k: 'count' }
  | { k: 'bool' }
  | { k: 'date' }
  | { k: 'time' }
  | { k: 'enum'; options: readonly string[] }
  | { k: 'codes'; options: readonly string[] }
  | { k: 'id_number' }
  | { k: 'phone' }
  | { k: 'ref'; entity: string }
  | { k: 'uuid' }
  | { k: 'photos' }
  | { k: 'list' };

const text: Kind = { k: 'text' };
const count: Kind = { k: 'count' };
const bool: Kind = { k: 'bool' };
const date: Kind = { k: 'date' };
const time: Kind = { k: 'time' };
const phone: Kind = { k: 'phone' };
const idNumber: Kind = { k: 'id_number' };
const photos: Kind = { k: 'photos' };
const uuid: Kind = { k: 'uuid' };
const en = (...options: string[]): Kind => ({ k: 'enum', options });
const ref = (entity: string): Kind => ({ k: 'ref', entity });
const LAT: Kind = { k: 'number', min: -90, max: 90 };
const LNG: Kind = { k: 'number', min: -180, max: 180 };

export const ID_TYPES = [
  'resident_id',
  'passport',
  'hk_macau_permit',
  'taiwan_permit',
  'foreign_permit',
  'other',
] as const;

/** Fraud-den indicator codes (DOMAIN.md, server/src/domain/risk.rs). */
export const INDICATOR_CODES = [
  'A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7', 'B1', 'B2', 'C1', 'C2', 'C3', 'C4', 'C5', 'D1', 'D2',
  'D3', 'E1', 'E2', 'F1', 'X1',
] as const;
export type IndicatorCode = (typeof INDICATOR_CODES)[number];

/** Points per indicator (DOMAIN.md's table; the server's configuration may weigh otherwise). */
export const INDICATOR_POINTS: Record<IndicatorCode, number> = {
  A1: 40, A2: 40, A3: 40, A4: 25, A5: 25, A6: 15, A7: 30, B1: 15, B2: 10, C1: 20, C2: 10,
  C3: 10, C4: 10, C5: 10, D1: 10, D2: 10, D3: 5, E1: 5, E2: 10, F1: 15, X1: 10,
};

export const HOUSEHOLD_KINDS = ['registered', 'resident', 'rental', 'vacant'] as const;
export const JZZ_VERIFIED_BY = ['self_report', 'seen_on_phone', 'police_list'] as const;
export const RENT_MODES = ['long', 'short', 'daily'] as const;
export const PAYMENTS = ['cash', 'transfer'] as const;
export const RENTAL_STATUS = ['let', 'vacant', 'closed'] as const;
export const ID_CHECKED_BY = ['card_reader', 'seen_card', 'verbal', 'none'] as const;
export const VISIT_KINDS = ['door_to_door', 'follow_up', 'school_leaflet', 'sweep'] as const;
export const OUTCOMES = ['met', 'nobody_home', 'refused'] as const;
export const PUBLICITY_KINDS = [
  'banner',
  'slogan',
  'red_paper_slogan',
  'vehicle_run',
  'broadcast',
  'display_screen',
  'meeting',
  'training',
  'school_leaflet',
] as const;

export const ENTITIES: Record<string, Record<string, Kind>> = {
  household: {
    address: text,
    lat: LAT,
    lng: LNG,
    kind: en(...HOUSEHOLD_KINDS),
    head_name: text,
    group_name: text,
    leaflet_delivered: bool,
    notes: text,
    photos,
  },
  member: {
    household_id: ref('household'),
    name: text,
    id_type: en(...ID_TYPES),
    id_number: idNumber,
    phone,
    relation: text,
    living_at_home: bool,
    has_smartphone: bool,
    jzz_registered: bool,
    jzz_registered_on: date,
    jzz_verified_by: en(...JZZ_VERIFIED_BY),
    covered_by: ref('member'),
    wechat_group_joined: bool,
    national_app_installed: bool,
    vulnerable: bool,
    notes: text,
    photos,
  },
  rental: {
    address: text,
    lat: LAT,
    lng: LNG,
    landlord_name: text,
    landlord_phone: phone,
    landlord_id_number: idNumber,
    landlord_on_site: bool,
    manager_name: text,
    manager_phone: phone,
    property_type: text,
    rooms: count,
    rent_mode: en(...RENT_MODES),
    payment: en(...PAYMENTS),
    written_contract: bool,
    filed_with_police: bool,
    occupants_observed: count,
    status: en(...RENTAL_STATUS),
    notes: text,
    photos,
  },
  tenant: {
    rental_id: ref('rental'),
    name: text,
    id_type: en(...ID_TYPES),
    id_number: idNumber,
    phone,
    hukou_place: text,
    move_in: date,
    move_out: date,
    reason: text,
    occupation: text,
    workplace: text,
    primary_lessee: bool,
    residence_permit: bool,
    id_checked_by: en(...ID_CHECKED_BY),
    notes: text,
    photos,
  },
  visit: {
    target_entity: en('household', 'rental'),
    target_id: uuid,
    kind: en(...VISIT_KINDS),
    outcome: en(...OUTCOMES),
    visited_at: time,
    visitors: text,
    leaflets: count,
    registrations_helped: count,
    notes: text,
    photos,
  },
  inspection: {
    rental_id: ref('rental'),
    indicators: { k: 'codes', options: INDICATOR_CODES },
    occupants_observed: count,
    inspected_at: time,
    inspectors: text,
    police_present: bool,
    reporter: text,
    notes: text,
    photos,
  },
  publicity: {
    kind: en(...PUBLICITY_KINDS),
    count,
    date,
    compound: text,
    notes: text,
    photos,
  },
  flag: {
    subject_entity: en('household', 'rental', 'tenant', 'member'),
    subject_id: uuid,
    kind: en('unregistered_household', 'not_visited', 'fraud_risk', 'duplicate_tenant', 'outside_grid'),
    level: en('red', 'yellow', 'green', 'info'),
    score: count,
    reasons: { k: 'list' },
    status: en('unregistered', 'partial', 'registered', 'exempt'),
    active: bool,
    state: en('new', 'in_review', 'cleared', 'confirmed', 'referred'),
    review_note: text,
    rule_version: text,
    photos,
  },
};

export function fieldKind(entity: string, field: string): Kind | undefined {
  return ENTITIES[entity]?.[field];
}
