// Browser benchmark: an initial pull of N records (the shape the server sends: whole records
// with per-field HLCs, pages of 2,000) applied into IndexedDB by the app's own LocalStore, each
// page and its cursors in one transaction. Run by scripts/bench-pull.mjs in headless Chromium.

import { LocalStore } from '../src/lib/store';
import { closeFangzha } from '../src/lib/db';
import type { PullChange, PullResponse } from '../src/lib/model';

const params = new URLSearchParams(location.search);
const N = Number(params.get('n') ?? 5000);
const PAGE = Number(params.get('page') ?? 2000);

function hlc(i: number): string {
  return `${String(1_733_000_000_000 + i).padStart(15, '0')}-00000-server`;
}

function change(i: number, scope: string, seq: number): PullChange {
  const kind = i % 5;
  const id = `0190f3c2-7d3e-7a1b-8c4d-${String(i).padStart(12, '0')}`;
  const h = hlc(i);
  let entity: string;
  let fields: Record<string, unknown>;
  if (kind === 0) {
    entity = 'household';
    fields = { address: `东山村 ${i % 12} 组 ${i} 号`, kind: 'registered', head_name: `户主${i}`, group_name: `${i % 12} 组` };
  } else if (kind <= 2) {
    entity = 'member';
    fields = {
      household_id: `0190f3c2-7d3e-7a1b-8c4d-${String(i - kind).padStart(12, '0')}`,
      name: `成员${i}`,
      id_number: '4312**********123X',
      phone: '138****5678',
      has_smartphone: true,
      jzz_registered: i % 3 === 0,
      living_at_home: true,
    };
  } else if (kind === 3) {
    entity = 'rental';
    fields = { address: `西街 ${i} 号`, landlord_name: `房东${i}`, rooms: 3, rent_mode: 'long', payment: 'transfer', written_contract: true };
  } else {
    entity = 'tenant';
    fields = { rental_id: `0190f3c2-7d3e-7a1b-8c4d-${String(i - 1).padStart(12, '0')}`, name: `租客${i}`, id_number: '4312**********123X', move_in: '2021-05-01' };
  }
  const hlcs: Record<string, string> = {};
  for (const k of Object.keys(fields)) hlcs[k] = h;
  return { scope, seq, entity, id, fields, hlc: hlcs, deleted: false };
}

async function run(): Promise<Record<string, number>> {
  const name = `bench-${Date.now()}`;
  const store = new LocalStore('0190f3c2-0000-7000-8000-0000000bench', name);
  await store.db(); // open and create the stores outside the timing
  const scopes = ['grid-a', 'grid-b'];
  const pages: PullResponse[] = [];
  let seq = 0;
  for (let start = 0; start < N; start += PAGE) {
    const changes: PullChange[] = [];
    for (let i = start; i < Math.min(N, start + PAGE); i++) changes.push(change(i, scopes[i % 2]!, ++seq));
    pages.push({
      scopes,
      removed_scopes: [],
      changes,
      cursors: { 'grid-a': seq, 'grid-b': seq },
      has_more: start + PAGE < N,
      server_time_ms: Date.now(),
    });
  }
  // The pages arrive as JSON text: include parsing, as the app pays for it too.
  const texts = pages.map((p) => JSON.stringify(p));
  const t0 = performance.now();
  for (const text of texts) await store.applyPull(JSON.parse(text) as PullResponse);
  const ms = performance.now() - t0;
  const count = await store.count('records');
  const t1 = performance.now();
  const list = await store.list('household', 'grid-a');
  const listMs = performance.now() - t1;
  await closeFangzha(name);
  indexedDB.deleteDatabase(name);
  return { records: count, pages: pages.length, ms: Math.round(ms), listMs: Math.round(listMs), listed: list.length };
}

run().then(
  (r) => {
    (window as unknown as { benchResult: unknown }).benchResult = r;
    document.getElementById('out')!.textContent = JSON.stringify(r);
  },
  (e: unknown) => {
    (window as unknown as { benchResult: unknown }).benchResult = { error: String(e) };
  },
);
