#!/usr/bin/env node
// Prints the gzip size of what the first load of the app fetches (the JS and CSS named by
// dist/index.html, plus every chunk they import statically), against the 80 KB target.
// Lazy chunks (tus-js-client, loaded only to upload photos) are listed apart.
// Run after `npm run build`. Exit 1 when over the target.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const TARGET_KB = 80;
const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;

const first = new Set();
for (const m of html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)) first.add(m[1]);
// Static imports of the entry chunks (`import … from "./x.js"` at the top level).
const queue = [...first].filter((f) => f.endsWith('.js'));
while (queue.length) {
  const f = queue.pop();
  const src = readFileSync(join(dist, f), 'utf8');
  for (const m of src.matchAll(/(?:^|[;}\n])\s*import\s*(?:[\w*{}\s,$]+from\s*)?["']\.\/([^"']+\.js)["']/g)) {
    const dep = `assets/${m[1]}`;
    if (!first.has(dep)) {
      first.add(dep);
      queue.push(dep);
    }
  }
}

// workbox-window is imported dynamically but at start-up (service worker registration): count it.
for (const f of readdirSync(join(dist, 'assets'))) if (f.startsWith('workbox-window')) first.add(`assets/${f}`);

let total = 0;
console.log('first load (gzip -9):');
for (const f of [...first].sort()) {
  const n = gz(f);
  total += n;
  console.log(`  ${(n / 1024).toFixed(2).padStart(7)} KB  ${f}`);
}
const lazy = readdirSync(join(dist, 'assets')).filter((f) => /\.(js|css)$/.test(f) && !first.has(`assets/${f}`));
if (lazy.length) {
  console.log('loaded later (not counted):');
  for (const f of lazy) console.log(`  ${(gz(`assets/${f}`) / 1024).toFixed(2).padStart(7)} KB  assets/${f}`);
}
const kb = total / 1024;
console.log(`JS+CSS first load: ${kb.toFixed(1)} KB gzip (target ≤ ${TARGET_KB} KB) — ${kb <= TARGET_KB ? 'OK' : 'OVER'}`);
process.exit(kb <= TARGET_KB ? 0 : 1);
