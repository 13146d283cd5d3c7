// End-to-end check of the desk (issue 7) against a running server with the demo township:
// the police officer's queue shows the demo's red rentals; a rental opens; a tenant's ID is
// revealed with a purpose (logged); the flag is reviewed as 已核查 (cleared) and its state
// changes; an admin opens the dashboard and the ranking. Screenshots of each desk screen go to
// e2e/artifacts/desk-*.png.
//
// Called by run.mjs when E2E_POLICE_PASSWORD is set; or alone:
//   E2E_BASE_URL=… E2E_POLICE_PASSWORD=… E2E_ADMIN_PASSWORD=… node e2e/desk.mjs

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

// Must match src/desk/text.ts.
const D = {
  queueTitle: '出租房涉诈风险核查',
  overdue: '超时',
  cleared: '已核查（排除）',
  revealed: '完整信息（已记录查看）',
};

export async function runDesk({ browser, base, check, assert, policePassword, adminPassword, outDir = join(here, 'artifacts') }) {
  mkdirSync(outDir, { recursive: true });
  const api = async (path, { token, body, method } = {}) => {
    const res = await fetch(`${base}${path}`, {
      method: method ?? (body ? 'POST' : 'GET'),
      headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
  const errors = [];
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  // What the server's Content-Security-Policy blocks, as Chromium reports it.
  const cspViolations = [];
  context.on('console', (m) => {
    if (m.text().includes('Content Security Policy')) cspViolations.push(m.text());
  });
  const shot = (name) => page.screenshot({ path: join(outDir, `desk-${name}.png`), fullPage: true });
  const login = async (username, password) => {
    await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(password);
    await page.getByRole('button', { name: '登录', exact: true }).click();
  };

  try {
    let redRows = 0;
    await check('desk: police log in and the queue lists the demo red rentals, red first', async () => {
      await login('police', policePassword);
      await page.getByText(D.queueTitle).waitFor();
      // The queue fills as the first pull lands.
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="queue-row"][data-level="red"]').length > 0, null, { timeout: 30_000 });
      redRows = await page.locator('[data-testid="queue-row"][data-level="red"]').count();
      const levels = await page.locator('[data-testid="queue-row"]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-level')));
      const firstNotRed = levels.findIndex((l) => l !== 'red');
      assert(firstNotRed === -1 || levels.slice(firstNotRed).every((l) => l !== 'red'), `red rows are not first: ${levels.join(',')}`);
      // The demo has 8 red fraud-risk flags (2 + 2 + 3 + 1).
      const token = (await api('/api/auth/login', { body: { username: 'police', password: policePassword, device_name: 'e2e-desk' } })).json.access_token;
      // Summed over the officer's top areas (a dashboard without ?area= is only the first).
      const me = (await api('/api/me', { token })).json;
      const areas = (me.area_details ?? me.areas).filter((a) => a && typeof a === 'object');
      const ids = new Set(areas.map((a) => a.id));
      let expected = 0;
      for (const a of areas.filter((x) => !x.parent_id || !ids.has(x.parent_id))) {
        const red = (await api(`/api/reports/dashboard?area=${encodeURIComponent(a.id)}`, { token })).json?.figures.flags?.fraud_risk?.red ?? {};
        expected += (red.new ?? 0) + (red.in_review ?? 0);
      }
      assert(redRows === expected, `${redRows} red rows in the queue, the server counts ${expected}`);
      await shot('queue');
    }, 45_000);

    let address = '';
    await check('desk: a red rental opens with its reasons, tenants masked', async () => {
      const row = page.locator('[data-testid="queue-row"][data-level="red"]').first();
      address = (await row.locator('.addr strong').innerText()).trim();
      await row.click();
      await page.getByTestId('case-title').getByText(address).waitFor();
      await page.getByTestId('case-level').getByText('红色').waitFor();
      const ids = await page.getByTestId('tenant-id').allInnerTexts();
      assert(ids.length > 0, 'no tenants shown');
      assert(ids.every((x) => x === '—' || x.includes('*')), `tenant IDs not masked: ${ids.join(',')}`);
      await shot('rental');
    }, 20_000);

    await check('desk: a tenant ID is revealed after a purpose is given', async () => {
      await page.getByTestId('reveal').first().click();
      await page.getByTestId('reveal-purpose').fill('核查涉诈风险提示（端到端测试）');
      await page.getByTestId('reveal-submit').click();
      await page.getByText(D.revealed).first().waitFor();
      const id = (await page.getByTestId('tenant-id').first().innerText()).trim();
      assert(!id.includes('*') && id.length >= 6, `ID still masked: ${id}`);
    });

    await check('desk: the reveal is in the access log with its purpose', async () => {
      if (!adminPassword) return;
      const token = (await api('/api/auth/login', { body: { username: 'admin', password: adminPassword, device_name: 'e2e-desk' } })).json.access_token;
      const log = (await api('/api/audit?limit=5000', { token })).json;
      const hit = (log?.access ?? []).find((x) => String(x.purpose).includes('核查涉诈风险提示（端到端测试）') && x.entity === 'tenant');
      assert(hit, 'no access-log entry with the purpose');
    });

    await check('desk: review as 已核查 (cleared); the state changes after sync', async () => {
      await page.getByTestId('review-note').fill('已上门核查，设备为正常办公用途（端到端测试）');
      await page.getByTestId('review-cleared').click();
      await page.getByTestId('review-done').waitFor();
      await page.getByTestId('case-state').getByText(D.cleared).waitFor();
      // The synced local copy holds the new state too: reload reads it from IndexedDB.
      await page.waitForTimeout(1500);
      await page.reload({ waitUntil: 'domcontentloaded' });
      await page.getByTestId('case-state').getByText(D.cleared).waitFor({ timeout: 20_000 });
      await shot('rental-reviewed');
    }, 40_000);

    await check('desk: the cleared rental leaves the open queue', async () => {
      await page.getByTestId('nav-queue').click();
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="queue-row"][data-level="red"]').length === n - 1, redRows, { timeout: 15_000 });
    });

    await check('desk: offline (every /api request blocked) the queue still opens from the local store', async () => {
      await page.evaluate(() => navigator.serviceWorker?.ready.then(() => true));
      await context.route('**/api/**', (route) => route.abort('internetdisconnected'));
      try {
        await page.goto(`${base}/#/queue`, { waitUntil: 'domcontentloaded' });
        await page.reload({ waitUntil: 'domcontentloaded' });
        await page.getByText(D.queueTitle).waitFor();
        await page.waitForFunction((n) => document.querySelectorAll('[data-testid="queue-row"][data-level="red"]').length === n - 1, redRows, { timeout: 15_000 });
        await shot('queue-offline');
      } finally {
        await context.unroute('**/api/**');
      }
    }, 30_000);

    await check('desk: police log out', async () => {
      await page.getByTestId('desk-logout').click();
      await page.locator('input[name="username"]').waitFor();
    });

    if (adminPassword) {
      await check('desk: admin opens the township dashboard with rates and villages', async () => {
        await login('admin', adminPassword);
        await page.getByTestId('dash-title').waitFor({ timeout: 20_000 });
        await page.getByTestId('rate-registration_rate').waitFor();
        const kids = await page.getByTestId('dash-child').count();
        assert(kids >= 1, 'no villages listed');
        await shot('dashboard');
        await page.getByTestId('dash-child').first().click();
        await page.getByTestId('dash-title').getByText('村').waitFor().catch(() => {});
        await page.getByTestId('rate-sweep_coverage').waitFor();
        await shot('dashboard-village');
      }, 30_000);

      await check('desk: admin opens the ranking and a village shows every line adding up', async () => {
        await page.getByTestId('nav-ranking').click();
        await page.getByTestId('ranking').waitFor();
        await page.getByTestId('rank-village').first().click();
        const lines = page.getByTestId('rank-lines').first();
        await lines.waitFor();
        const text = await lines.innerText();
        assert(text.includes('金钟罩注册率'), 'the registration line is missing');
        assert(!(await page.getByText('各项之和与总分不一致').count()), 'the lines do not add up to the total');
        await shot('ranking');
      }, 20_000);

      await check('desk: the admin\'s other desk pages open (campaign, cases, posters, map, imports)', async () => {
        for (const [nav, heading] of [['campaign', '专项行动设置'], ['cases', '案件登记与示范村'], ['posters', '网格二维码海报'], ['map', '地图'], ['imports', '导入与导出']]) {
          await page.getByTestId(`nav-${nav}`).click();
          await page.locator('h1', { hasText: heading }).waitFor();
          await page.waitForTimeout(500);
          await shot(nav);
        }
      }, 30_000);

      await check('desk: admin logs out', async () => {
        await page.getByTestId('desk-logout').click();
        await page.locator('input[name="username"]').waitFor();
      });
    }

    await check('desk: no uncaught errors in the page', async () => {
      assert(errors.length === 0, errors.join(' | '));
    });

    await check('desk: nothing was blocked by the Content-Security-Policy', async () => {
      assert(cspViolations.length === 0, cspViolations.join(' | '));
    });
  } finally {
    await context.close();
  }
}

// Alone: node e2e/desk.mjs
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { chromium } = await import('playwright-core');
  const base = (process.env.E2E_BASE_URL ?? '').replace(/\/$/, '');
  const policePassword = process.env.E2E_POLICE_PASSWORD;
  if (!base || !policePassword) {
    console.error('E2E_BASE_URL and E2E_POLICE_PASSWORD are required');
    process.exit(2);
  }
  let passed = 0;
  let failed = 0;
  const check = async (name, fn, timeout = 15_000) => {
    const started = Date.now();
    try {
      await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeout} ms`)), timeout))]);
      passed++;
      console.log(`ok    ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL  ${name}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
    }
  };
  const assert = (c, m) => {
    if (!c) throw new Error(m);
  };
  const browser = await chromium.launch({
    executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  try {
    await runDesk({ browser, base, check, assert, policePassword, adminPassword: process.env.E2E_ADMIN_PASSWORD || null });
  } finally {
    await browser.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
