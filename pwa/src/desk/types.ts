import type { Snippet } from 'svelte';
import type { AppContext } from '../lib/context.svelte';

/** What the shell hands the desk layout. */
export interface DeskProps {
  ctx: AppContext;
  onlogout: () => void;
  loggingOut: boolean;
  logoutError: string | null;
  /** The phone screens for routes the desk does not own (#/home, #/rental/…, #/sync). */
  phone: Snippet;
}

export const DESK_ROUTES = ['', 'queue', 'case', 'dashboard', 'ranking', 'campaign', 'cases', 'posters', 'map', 'imports'] as const;
