#!/usr/bin/env node
// Draws the app icons (a white shield with a red check on the brand red) and writes them as
// PNG files into public/. Uses only node:zlib: a minimal PNG encoder (8-bit RGBA, filter 0)
// and 4x4 supersampling for smooth edges. The PNGs are committed; run `npm run icons` after
// changing the drawing.
//
//   public/icons/icon-192.png           rounded square, transparent corners ("any")
//   public/icons/icon-512.png           rounded square, transparent corners ("any")
//   public/icons/icon-512-maskable.png  full bleed; the shield stays inside the centre circle
//                                       of radius 40 % (the 80 % maskable safe zone)
//   public/apple-touch-icon.png         180, full bleed (iOS rounds the corners itself)
//   public/favicon.png                  32, rounded square

import { deflateSync } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'public');

const RED = [0xb7, 0x1c, 0x1c];
const WHITE = [0xff, 0xff, 0xff];

// ---- PNG encoder -------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** rgba: Uint8Array of width*height*4 bytes. */
function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter method
  ihdr[12] = 0; // no interlace
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type None
    Buffer.from(rgba.buffer, rgba.byteOffset + y * stride, stride).copy(raw, y * (stride + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- shapes (coordinates in units of the icon size, origin at the centre) ------------------

/** Inside a rounded square of half-side h and corner radius r. */
function inRoundedSquare(x, y, h, r) {
  const dx = Math.abs(x) - (h - r);
  const dy = Math.abs(y) - (h - r);
  if (dx <= 0 || dy <= 0) return Math.abs(x) <= h && Math.abs(y) <= h;
  return dx * dx + dy * dy <= r * r;
}

/** Shifts the shield up so that its bounding box is centred. */
const CENTRE = 0.04;

/**
 * Inside a shield of scale s centred at the origin: straight sides from the top down to the
 * middle, then a convex curve to a point at the bottom; the top edge dips a little in the middle.
 * In shield units the shape spans x in [-0.62, 0.62] and y in [-0.82, 0.82] (after CENTRE).
 */
function inShield(x, y, s) {
  const u = x / s;
  const v = y / s + CENTRE;
  const halfW = 0.62;
  const top = -0.78 + 0.1 * (1 - (u / halfW) ** 2); // gentle dip in the middle of the top edge
  const shoulder = 0.08;
  const bottom = 0.86;
  if (v < top || v > bottom) return false;
  if (v <= shoulder) return Math.abs(u) <= halfW;
  const t = (v - shoulder) / (bottom - shoulder);
  return Math.abs(u) <= halfW * (1 - t ** 1.7);
}

/** Distance from point p to segment a-b. */
function segDist(px, py, ax, ay, bx, by) {
  const vx = bx - ax;
  const vy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * vx + (py - ay) * vy) / (vx * vx + vy * vy)));
  const dx = px - (ax + t * vx);
  const dy = py - (ay + t * vy);
  return Math.hypot(dx, dy);
}

/** A check mark inside the shield, also in shield units. */
function inCheck(x, y, s) {
  const u = x / s;
  const v = y / s + CENTRE;
  const w = 0.1; // half stroke width
  return segDist(u, v, -0.3, 0.0, -0.08, 0.24) <= w || segDist(u, v, -0.08, 0.24, 0.34, -0.22) <= w;
}

/** Largest distance from the centre of any shield point, in shield units (for the safe zone). */
function shieldRadius() {
  let r = 0;
  for (let v = -0.95; v <= 0.95; v += 0.002) {
    for (let u = -0.7; u <= 0.7; u += 0.002) {
      if (inShield(u, v, 1)) r = Math.max(r, Math.hypot(u, v));
    }
  }
  return r;
}

// ---- rendering --------------------------------------------------------------------------

/**
 * kind: 'rounded' (transparent corners) or 'full' (opaque square).
 * shieldScale: shield scale as a fraction of the icon size.
 */
function render(size, kind, shieldScale) {
  const SS = 4; // supersampling per axis
  const out = new Uint8Array(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const x = (px + (sx + 0.5) / SS) / size - 0.5;
          const y = (py + (sy + 0.5) / SS) / size - 0.5;
          const bg = kind === 'full' || inRoundedSquare(x, y, 0.5, 0.11);
          if (!bg) continue;
          let c = RED;
          if (inShield(x, y, shieldScale) && !inCheck(x, y, shieldScale)) c = WHITE;
          r += c[0];
          g += c[1];
          b += c[2];
          a += 1;
        }
      }
      const i = (py * size + px) * 4;
      if (a > 0) {
        out[i] = Math.round(r / a);
        out[i + 1] = Math.round(g / a);
        out[i + 2] = Math.round(b / a);
      }
      out[i + 3] = Math.round((a / (SS * SS)) * 255);
    }
  }
  return encodePng(size, size, out);
}

function write(rel, png) {
  const file = join(root, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, png);
  console.log(`${rel}  ${png.length} bytes`);
}

// Regular icons: the shield fills about 70 % of the height.
const REGULAR = 0.43;
// Maskable: the whole shield must lie within the circle of radius 0.4 (80 % safe zone);
// keep a little margin inside it.
const MASKABLE = (0.4 * 0.92) / shieldRadius();

write('icons/icon-192.png', render(192, 'rounded', REGULAR));
write('icons/icon-512.png', render(512, 'rounded', REGULAR));
write('icons/icon-512-maskable.png', render(512, 'full', MASKABLE));
write('apple-touch-icon.png', render(180, 'full', 0.4));
write('favicon.png', render(32, 'rounded', 0.45));
console.log(`maskable shield scale ${MASKABLE.toFixed(3)} (radius ${(MASKABLE * shieldRadius()).toFixed(3)} of size)`);
