// What each edit screen asks, in order. Field names are the server's (entities.rs); labels
// come from the dictionary (t.app.fields / t.app.enums).

export type Input =
  | 'text'
  | 'textarea'
  | 'count'
  | 'bool'
  | 'select'
  | 'date'
  | 'datetime'
  | 'idnumber'
  | 'phone'
  | 'photos'
  | 'member';

export interface FieldSpec {
  name: string;
  input: Input;
  /** Key in t.app.enums for selects. */
  options?: string;
  required?: boolean;
  /** Shown only when this boolean field is true. */
  when?: string;
}

export const FORMS: Record<string, FieldSpec[]> = {
  household: [
    { name: 'address', input: 'text', required: true },
    { name: 'head_name', input: 'text' },
    { name: 'group_name', input: 'text' },
    { name: 'kind', input: 'select', options: 'household_kind' },
    { name: 'leaflet_delivered', input: 'bool' },
    { name: 'notes', input: 'textarea' },
    { name: 'photos', input: 'photos' },
  ],
  member: [
    { name: 'name', input: 'text', required: true },
    { name: 'relation', input: 'text' },
    { name: 'id_number', input: 'idnumber' },
    { name: 'phone', input: 'phone' },
    { name: 'living_at_home', input: 'bool' },
    { name: 'has_smartphone', input: 'bool' },
    { name: 'jzz_registered', input: 'bool' },
    { name: 'jzz_registered_on', input: 'date', when: 'jzz_registered' },
    { name: 'jzz_verified_by', input: 'select', options: 'jzz_verified_by', when: 'jzz_registered' },
    { name: 'covered_by', input: 'member' },
    { name: 'wechat_group_joined', input: 'bool' },
    { name: 'national_app_installed', input: 'bool' },
    { name: 'vulnerable', input: 'bool' },
    { name: 'notes', input: 'textarea' },
    { name: 'photos', input: 'photos' },
  ],
  rental: [
    { name: 'address', input: 'text', required: true },
    { name: 'landlord_name', input: 'text' },
    { name: 'landlord_phone', input: 'phone' },
    { name: 'landlord_on_site', input: 'bool' },
    { name: 'manager_name', input: 'text' },
    { name: 'manager_phone', input: 'phone' },
    { name: 'property_type', input: 'text' },
    { name: 'rooms', input: 'count' },
    { name: 'rent_mode', input: 'select', options: 'rent_mode' },
    { name: 'payment', input: 'select', options: 'payment' },
    { name: 'written_contract', input: 'bool' },
    { name: 'filed_with_police', input: 'bool' },
    { name: 'occupants_observed', input: 'count' },
    { name: 'status', input: 'select', options: 'rental_status' },
    { name: 'notes', input: 'textarea' },
    { name: 'photos', input: 'photos' },
  ],
  tenant: [
    { name: 'name', input: 'text', required: true },
    { name: 'id_type', input: 'select', options: 'id_type' },
    { name: 'id_number', input: 'idnumber' },
    { name: 'phone', input: 'phone' },
    { name: 'hukou_place', input: 'text' },
    { name: 'move_in', input: 'date' },
    { name: 'move_out', input: 'date' },
    { name: 'occupation', input: 'text' },
    { name: 'workplace', input: 'text' },
    { name: 'reason', input: 'text' },
    { name: 'primary_lessee', input: 'bool' },
    { name: 'residence_permit', input: 'bool' },
    { name: 'id_checked_by', input: 'select', options: 'id_checked_by' },
    { name: 'notes', input: 'textarea' },
    { name: 'photos', input: 'photos' },
  ],
  visit: [
    { name: 'kind', input: 'select', options: 'visit_kind', required: true },
    { name: 'outcome', input: 'select', options: 'outcome', required: true },
    { name: 'visited_at', input: 'datetime', required: true },
    { name: 'leaflets', input: 'count' },
    { name: 'registrations_helped', input: 'count' },
    { name: 'visitors', input: 'text' },
    { name: 'notes', input: 'textarea' },
    { name: 'photos', input: 'photos' },
  ],
  publicity: [
    { name: 'kind', input: 'select', options: 'publicity_kind', required: true },
    { name: 'count', input: 'count', required: true },
    { name: 'date', input: 'date', required: true },
    { name: 'compound', input: 'text' },
    { name: 'notes', input: 'textarea' },
    { name: 'photos', input: 'photos' },
  ],
};

/** Today as YYYY-MM-DD in UTC+8. */
export function todayIso(now = Date.now()): string {
  return new Date(now + 8 * 3_600_000).toISOString().slice(0, 10);
}

/** Unix ms → the value of an <input type="datetime-local"> in the phone's time zone. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function fromLocalInput(s: string): number | null {
  const ms = new Date(s).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** Values shown masked to this user (server's masking) contain '*'. */
export function isMasked(v: unknown): boolean {
  return typeof v === 'string' && v.includes('*');
}
