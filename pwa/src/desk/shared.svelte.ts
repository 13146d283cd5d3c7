// What several desk pages need from the server, kept in the local store's meta so that the
// police queue works offline: the areas (names, levels, parents, boundaries) and the campaign
// (review limits, targets). Refreshed from the server whenever the desk opens online.

import { isApiError, type Api } from '../lib/api';
import type { LocalStore } from '../lib/store';
import type { CampaignConfig } from './campaign';
import type { Limits } from './queue';

export interface AreaInfo {
  id: string;
  name: string;
  level: 'township' | 'village' | 'grid';
  level_label?: string;
  parent_id: string | null;
  boundary: unknown;
  qr_link: string | null;
  wechat_group: string | null;
}

export interface AreasResponse {
  areas: AreaInfo[];
  map_tile_url: string | null;
}

export interface CampaignResponse {
  version: number;
  config: CampaignConfig;
  deadlines: { label: string; date: string; days_left: number }[];
}

export const shared = $state({
  areas: [] as AreaInfo[],
  tileUrl: null as string | null,
  campaign: null as CampaignResponse | null,
});

export function limits(): Limits {
  const t = shared.campaign?.config.targets;
  return { redHours: t?.red_review_hours ?? 24, yellowDays: t?.yellow_review_days ?? 7 };
}

export function areaName(id: string): string {
  return shared.areas.find((a) => a.id === id)?.name ?? id;
}

const AREAS = 'desk_areas';
const CAMPAIGN = 'desk_campaign';

/** Reads the cached copies at once, then asks the server (quietly offline). */
export async function loadShared(store: LocalStore, api: Api): Promise<void> {
  const [a, c] = await Promise.all([store.meta<AreasResponse>(AREAS), store.meta<CampaignResponse>(CAMPAIGN)]);
  if (a) {
    shared.areas = a.areas;
    shared.tileUrl = a.map_tile_url;
  }
  if (c) shared.campaign = c;
  await refreshShared(store, api);
}

export async function refreshShared(store: LocalStore, api: Api): Promise<void> {
  if (typeof navigator !== 'undefined' && !navigator.onLine) return;
  await Promise.all([
    api.getJson<AreasResponse>('/api/areas').then(
      async (a) => {
        shared.areas = a.areas;
        shared.tileUrl = a.map_tile_url ?? null;
        await store.setMeta(AREAS, $state.snapshot(a));
      },
      (e: unknown) => console.warn('areas not refreshed', e),
    ),
    api.getJson<CampaignResponse>('/api/campaign').then(
      async (c) => {
        shared.campaign = c;
        await store.setMeta(CAMPAIGN, c);
      },
      (e: unknown) => console.warn('campaign not refreshed', e),
    ),
  ]);
}

/** An error as a line of Chinese; a 404 means the server does not have the feature yet. */
export function errorText(e: unknown, notAvailable: string): string {
  if (isApiError(e) && e.status === 404) return notAvailable;
  return e instanceof Error ? e.message : String(e);
}

export function isMissing(e: unknown): boolean {
  return isApiError(e) && (e.status === 404 || e.status === 405);
}

/** Downloads an authenticated answer as a file (exports, posters). */
export async function download(api: Api, path: string, filename: string): Promise<void> {
  const res = await api.authed(path, { method: 'GET' });
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
