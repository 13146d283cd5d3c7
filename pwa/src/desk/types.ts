import type { Snippet } from 'svelte';
import type { AppContext } from '../lib/context.svelte';
import type { Role } from '../lib/types';

/** What the shell hands the desk layout. */
export interface DeskProps {
  ctx: AppContext;
  onlogout: () => void;
  loggingOut: boolean;
  logoutError: string | null;
  /** The phone screens for routes the desk does not own (#/home, #/rental/…, #/sync). */
  phone: Snippet;
}

/** Hash routes the desk shows itself; any other goes to the phone screens. */
export const DESK_ROUTES = ['', 'queue', 'case', 'dashboard', 'ranking', 'campaign', 'cases', 'posters', 'map', 'imports'] as const;

/** Wide screens get the desk's side navigation (and cadres the desk at all). */
export const WIDE_QUERY = '(min-width: 900px)';

/**
 * Police, admins and leadership always work at the desk (it is usable on a phone too); cadres
 * on a wide screen; grid workers keep the phone app.
 */
export function usesDesk(role: Role | null | undefined, wide: boolean): boolean {
  return role === 'police' || role === 'admin' || role === 'viewer' || (role === 'cadre' && wide);
}

/** The page a role starts on. */
export function deskHome(role: Role): 'queue' | 'dashboard' {
  return role === 'police' ? 'queue' : 'dashboard';
}
