// Shapes the server sends (see shared/design/SYNC.md, "Authentication").

export const ROLES = ['admin', 'cadre', 'grid_worker', 'police', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const AREA_LEVELS = ['township', 'village', 'grid'] as const;
export type AreaLevel = (typeof AREA_LEVELS)[number];

export interface Area {
  id: string;
  name: string;
  level: AreaLevel;
  parent_id: string | null;
}

export interface User {
  id: string;
  username: string;
  name: string;
  role: Role;
  areas: Area[];
}

/** Answer of POST /api/auth/login and POST /api/auth/refresh. */
export interface AuthResponse {
  access_token: string;
  refresh_token: string;
  /** Lifetime of the access token in seconds. */
  expires_in: number;
  user: User;
}
