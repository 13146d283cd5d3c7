// An in-memory server speaking the sync protocol (SYNC.md), for protocol edge cases that are
// hard to provoke in the real one: lost answers, clock skew, mid gaps, removed scopes, expired
// tokens. Merge: per field the greater HLC wins; per-scope seq; last_mid per client.

interface Rec {
  entity: string;
  id: string;
  scope: string;
  fields: Record<string, unknown>;
  hlc: Record<string, string>;
  seq: number;
}

interface Mut {
  mid: number;
  hlc: string;
  entity: string;
  id: string;
  scope: string;
  op: string;
  fields?: Record<string, unknown>;
}

export class FakeServer {
  now = Date.now();
  records = new Map<string, Rec>();
  seqs = new Map<string, number>();
  lastMid = new Map<string, number>();
  scopes = ['g1'];
  /** How many times each (client, mid) was applied: must never exceed 1. */
  applied = new Map<string, number>();
  pushes = 0;
  log: string[] = [];
  pulls = 0;
  /** Fail the next N requests with a network error before the server sees them. */
  dropRequests = 0;
  /** Apply the next N pushes but lose the answer (network error after commit). */
  loseAnswers = 0;
  validToken = 'access-1';
  refreshToken = 'refresh-1';
  refreshes = 0;
  /** Field values the server rejects (simulating a domain rule). */
  rejectField: string | null = null;

  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input.toString();
    if (this.dropRequests > 0) {
      this.dropRequests--;
      throw new TypeError('Failed to fetch');
    }
    const body = init?.body ? JSON.parse(String(init.body)) : null;
    const path = url.replace(/^https?:\/\/[^/]+/, '');
    if (path === '/api/auth/refresh') {
      if (body.refresh_token !== this.refreshToken) return json(401, { error: 'invalid_refresh_token' });
      this.refreshes++;
      this.validToken = `access-${this.refreshes + 1}`;
      this.refreshToken = `refresh-${this.refreshes + 1}`;
      return json(200, {
        access_token: this.validToken,
        refresh_token: this.refreshToken,
        expires_in: 900,
        user: { id: 'u1', username: 'grid', name: '张伟', role: 'grid_worker', areas: [] },
      });
    }
    const auth = new Headers(init?.headers).get('Authorization');
    if (auth !== `Bearer ${this.validToken}`) return json(401, { error: 'invalid_token' });
    if (path === '/api/sync/push') return this.push(body);
    if (path === '/api/sync/pull') return this.pull(body);
    return json(404, { error: 'not_found' });
  };

  private push(req: { client_id: string; mutations: Mut[] }): Response {
    this.pushes++;
    this.log.push(req.mutations.map((m) => m.mid).join(','));
    const last = this.lastMid.get(req.client_id) ?? 0;
    const first = req.mutations[0];
    if (first && first.mid > last + 1) return json(409, { error: 'mid_gap', expected: last + 1 });
    for (const m of req.mutations) {
      const ms = Number(m.hlc.slice(0, 15));
      if (ms > this.now + 600_000) return json(409, { error: 'clock_skew', server_time_ms: this.now });
      if (!m.hlc.endsWith(`-${req.client_id}`)) return json(400, { error: 'invalid_mutation' });
    }
    const results = [];
    let newLast = last;
    for (const m of req.mutations) {
      if (m.mid <= newLast) {
        results.push({ mid: m.mid, status: 'duplicate' });
        continue;
      }
      newLast = m.mid;
      if (this.rejectField && m.fields && this.rejectField in m.fields) {
        results.push({
          mid: m.mid,
          status: 'rejected',
          error: { code: 'invalid_value', message: 'bad', field: this.rejectField },
        });
        continue;
      }
      const key = `${req.client_id}#${m.mid}`;
      this.applied.set(key, (this.applied.get(key) ?? 0) + 1);
      this.apply(m);
      results.push({ mid: m.mid, status: 'applied' });
    }
    this.lastMid.set(req.client_id, newLast);
    if (this.loseAnswers > 0) {
      this.loseAnswers--;
      throw new TypeError('connection reset');
    }
    return json(200, { last_mid: newLast, server_time_ms: this.now, results });
  }

  apply(m: Mut): void {
    const rec = this.records.get(m.id) ?? {
      entity: m.entity,
      id: m.id,
      scope: m.scope,
      fields: {},
      hlc: {},
      seq: 0,
    };
    if (m.op === 'put') {
      for (const [k, v] of Object.entries(m.fields ?? {})) {
        if ((rec.hlc[k] ?? '') < m.hlc) {
          rec.fields[k] = v;
          rec.hlc[k] = m.hlc;
        }
      }
    } else {
      const reg = m.op === 'delete' ? '_delete' : '_restore';
      if ((rec.hlc[reg] ?? '') < m.hlc) rec.hlc[reg] = m.hlc;
    }
    const seq = (this.seqs.get(rec.scope) ?? 0) + 1;
    this.seqs.set(rec.scope, seq);
    rec.seq = seq;
    this.records.set(m.id, rec);
  }

  private async pull(req: { cursors: Record<string, number>; limit: number }): Promise<Response> {
    this.pulls++;
    const removed = Object.keys(req.cursors).filter((s) => !this.scopes.includes(s));
    const changes = [];
    const cursors: Record<string, number> = {};
    const checksums: Record<string, { count: number; xor: string }> = {};
    let hasMore = false;
    for (const scope of this.scopes) {
      const from = req.cursors[scope] ?? 0;
      const rows = [...this.records.values()]
        .filter((r) => r.scope === scope && r.seq > from)
        .sort((a, b) => a.seq - b.seq);
      const page = rows.slice(0, req.limit);
      if (rows.length > page.length) hasMore = true;
      for (const r of page) {
        const deleted = (r.hlc._delete ?? '') > (r.hlc._restore ?? '');
        changes.push({ scope, seq: r.seq, entity: r.entity, id: r.id, fields: r.fields, hlc: r.hlc, deleted, version: version(r) });
      }
      cursors[scope] = page.length ? page[page.length - 1]!.seq : from;
      if (rows.length === page.length) checksums[scope] = await this.checksum(scope);
    }
    return json(200, {
      scopes: this.scopes,
      removed_scopes: removed,
      changes,
      cursors,
      has_more: hasMore,
      server_time_ms: this.now,
      checksums,
    });
  }

  /** SYNC-STORAGE.md "Checksum". */
  async checksum(scope: string): Promise<{ count: number; xor: string }> {
    let xor = 0n;
    let count = 0;
    for (const r of this.records.values()) {
      if (r.scope !== scope || (r.hlc._delete ?? '') > (r.hlc._restore ?? '')) continue;
      const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${r.id}@${version(r)}`));
      xor ^= new DataView(d).getBigUint64(0);
      count++;
    }
    return { count, xor: xor.toString(16).padStart(16, '0') };
  }
}

function version(r: Rec): string {
  return Object.values(r.hlc).reduce((a, b) => (b > a ? b : a), '');
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}
