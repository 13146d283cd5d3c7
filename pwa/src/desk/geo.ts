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

/** Web Mercator of a point, 0..1 each way (so that raster tiles line up). */
export function merc([lng, lat]: LngLat): [number, number] {
  const r = (Math.max(-85, Math.min(85, lat)) * Math.PI) / 180;
  return [(lng + 180) / 360, (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2];
}

export interface MercFit {
  proj: Projection;
  /** Screen pixels per whole Mercator world (at view k = 1). */
  scale: number;
  ox: number;
  oy: number;
}

/** Fits `b` (lng/lat) into width × height in Web Mercator. */
export function fitMercator(b: Bounds, width: number, height: number, pad = 16): MercFit {
  const [x0, y1] = merc([b.minLng, b.minLat]);
  const [x1, y0] = merc([b.maxLng, b.maxLat]);
  const spanX = Math.max(x1 - x0, 1e-9);
  const spanY = Math.max(y1 - y0, 1e-9);
  const scale = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
  const ox = (width - spanX * scale) / 2 - x0 * scale;
  const oy = (height - spanY * scale) / 2 - y0 * scale;
  return {
    scale,
    ox,
    oy,
    proj: (p) => {
      const [mx, my] = merc(p);
      return [ox + mx * scale, oy + my * scale];
    },
  };
}

export interface Tile {
  url: string;
  x: number;
  y: number;
  size: number;
}

/**
 * The raster tiles covering the screen, in the map's world coordinates (inside the pan/zoom
 * group). `template` has {z}, {x}, {y}.
 */
export function tilesFor(f: MercFit, v: View, width: number, height: number, template: string, maxZoom = 18): Tile[] {
  const world = f.scale * v.k;
  const z = Math.max(0, Math.min(maxZoom, Math.round(Math.log2(world / 256))));
  const n = 2 ** z;
  const size = f.scale / n;
  // The visible area in world coordinates.
  const wx0 = (0 - v.x) / v.k;
  const wx1 = (width - v.x) / v.k;
  const wy0 = (0 - v.y) / v.k;
  const wy1 = (height - v.y) / v.k;
  const i0 = Math.max(0, Math.floor((wx0 - f.ox) / size));
  const i1 = Math.min(n - 1, Math.floor((wx1 - f.ox) / size));
  const j0 = Math.max(0, Math.floor((wy0 - f.oy) / size));
  const j1 = Math.min(n - 1, Math.floor((wy1 - f.oy) / size));
  const out: Tile[] = [];
  if ((i1 - i0 + 1) * (j1 - j0 + 1) > 200) return out;
  for (let i = i0; i <= i1; i++) {
    for (let j = j0; j <= j1; j++) {
      out.push({
        url: template.replace('{z}', String(z)).replace('{x}', String(i)).replace('{y}', String(j)),
        x: f.ox + i * size,
        y: f.oy + j * size,
        size,
      });
    }
  }
  return out;
}
