// The offline map's geometry (pure): bounds, an equirectangular projection scaled by the
// cosine of the middle latitude (good enough for a township), GeoJSON rings as SVG paths, and
// the pan/zoom view transform.

export type LngLat = [number, number];

export interface Bounds {
  minLng: number;
  minLat: number;
  maxLng: number;
  maxLat: number;
}

export function boundsOf(points: LngLat[]): Bounds | null {
  let b: Bounds | null = null;
  for (const [lng, lat] of points) {
    if (!Number.isFinite(lng) || !Number.isFinite(lat)) continue;
    if (!b) b = { minLng: lng, minLat: lat, maxLng: lng, maxLat: lat };
    else {
      b.minLng = Math.min(b.minLng, lng);
      b.maxLng = Math.max(b.maxLng, lng);
      b.minLat = Math.min(b.minLat, lat);
      b.maxLat = Math.max(b.maxLat, lat);
    }
  }
  return b;
}

export type Projection = (p: LngLat) => [number, number];

/** Fits `b` into width × height with `pad` pixels around it, north up, aspect kept. */
export function fit(b: Bounds, width: number, height: number, pad = 16): Projection {
  const k = Math.cos((((b.minLat + b.maxLat) / 2) * Math.PI) / 180);
  const spanX = Math.max((b.maxLng - b.minLng) * k, 1e-6);
  const spanY = Math.max(b.maxLat - b.minLat, 1e-6);
  const s = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
  const ox = (width - spanX * s) / 2;
  const oy = (height - spanY * s) / 2;
  return ([lng, lat]) => [ox + (lng - b.minLng) * k * s, oy + (b.maxLat - lat) * s];
}

/** The outer and inner rings of a GeoJSON Polygon / MultiPolygon / Feature / FeatureCollection. */
export function ringsOf(g: unknown): LngLat[][] {
  if (!g || typeof g !== 'object') return [];
  const o = g as { type?: string; coordinates?: unknown; geometry?: unknown; features?: unknown[] };
  switch (o.type) {
    case 'FeatureCollection':
      return (o.features ?? []).flatMap(ringsOf);
    case 'Feature':
      return ringsOf(o.geometry);
    case 'Polygon':
      return (o.coordinates as LngLat[][]) ?? [];
    case 'MultiPolygon':
      return ((o.coordinates as LngLat[][][]) ?? []).flat();
    default:
      return [];
  }
}

export function pathOf(rings: LngLat[][], proj: Projection): string {
  return rings
    .filter((r) => r.length > 2)
    .map((r) => 'M' + r.map((p) => proj(p).map((v) => v.toFixed(1)).join(',')).join('L') + 'Z')
    .join('');
}

/** Pan and zoom: screen = world × k + (x, y). */
export interface View {
  x: number;
  y: number;
  k: number;
}

/** Zooms by `factor` keeping the screen point (cx, cy) still; k stays in 0.5..40. */
export function zoomAt(v: View, cx: number, cy: number, factor: number): View {
  const k = Math.min(40, Math.max(0.5, v.k * factor));
  const f = k / v.k;
  return { k, x: cx - (cx - v.x) * f, y: cy - (cy - v.y) * f };
}

/** Web-Mercator tile numbers covering `b` at zoom z (for an optional raster layer). */
export function tileOf(lng: number, lat: number, z: number): [number, number] {
  const n = 2 ** z;
  const x = ((lng + 180) / 360) * n;
  const r = (lat * Math.PI) / 180;
  const y = ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n;
  return [x, y];
}
