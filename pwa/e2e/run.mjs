#!/usr/bin/env node
// End-to-end check of the phone app against a RUNNING fangzha server that serves pwa/dist.
//
//   E2E_BASE_URL=http://127.0.0.1:18080 E2E_USERNAME=… E2E_PASSWORD=… E2E_NAME=… npm run e2e
//
// Optional: E2E_CHROMIUM (default /usr/bin/chromium), E2E_ROLE (a role code such as grid_worker:
// then exactly that role's label must show), E2E_HEADED=1 to watch.
// The user must hold at least one area. One wrong password is tried (it counts towards the
// server's login rate limit).
// Plain Node, no test framework: each step is a named check; the last line is
// "N passed, N failed" and the exit code is non-zero on any failure.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'out');

// Must match src/i18n/zh-CN.ts.
const TEXT = {
  login: '登录',
  logout: '退出登录',
  invalidCredentials: '用户名或密码错误',
  online: '在线',
  offline: '离线',
  roles: {
    admin: '镇综治办管理员',
    cadre: '村(居)干部',
    grid_worker: '网格员',
    police: '辖区民警',
    viewer: '领导小组(只读)',
  },
};

function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
}

const BASE = env('E2E_BASE_URL').replace(/\/$/, '');
const USERNAME = env('E2E_USERNAME');
const PASSWORD = env('E2E_PASSWORD');
const NAME = env('E2E_NAME');
const ROLE = process.env.E2E_ROLE || null;
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT = 15_000;

let passed = 0;
let failed = 0;

async function check(name, fn) {
  const started = Date.now();
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT} ms`)), STEP_TIMEOUT),
      ),
    ]);
    passed++;
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL  ${name}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Waits until the locator is visible; the error names what was missing. */
async function visible(locator, what) {
  try {
    await locator.waitFor({ state: 'visible' });
  } catch (e) {
    throw new Error(`${what} not visible (${e instanceof Error ? e.message.split('\n')[0] : e})`);
  }
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: !process.env.E2E_HEADED,
  args: [
    '--no-sandbox',
    '--disable-dev-shm-usage',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

const pageErrors = [];
try {
  const context = await browser.newContext({
    locale: 'zh-CN',
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    serviceWorkers: 'allow',
  });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));

  const usernameInput = page.locator('input[name="username"]');
  const passwordInput = page.locator('input[name="password"]');
  const loginButton = page.getByRole('button', { name: TEXT.login, exact: true });
  const logoutButton = page.getByRole('button', { name: TEXT.logout, exact: true });

  async function expectHome() {
    await visible(page.getByText(NAME, { exact: false }).first(), `the name "${NAME}"`);
    const role = (await page.getByTestId('role-label').innerText()).trim();
    if (ROLE) {
      assert(role === TEXT.roles[ROLE], `role label "${role}", expected "${TEXT.roles[ROLE]}"`);
    } else {
      assert(Object.values(TEXT.roles).includes(role), `unknown role label "${role}"`);
    }
    const areas = page.getByTestId('area-item');
    await visible(areas.first(), 'an area');
    const first = (await areas.first().innerText()).trim();
    assert(first.length > 0, 'the first area is empty');
  }

  await check('open / shows the login form', async () => {
    const res = await page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded' });
    assert(res && res.ok(), `GET / answered ${res?.status()}`);
    assert((await page.title()) === '防诈工作台', `title is "${await page.title()}"`);
    assert((await page.locator('html').getAttribute('lang')) === 'zh-CN', 'html lang is not zh-CN');
    await visible(usernameInput, 'the username field');
    await visible(passwordInput, 'the password field');
    await visible(loginButton, 'the 登录 button');
  });

  await check('wrong password shows 用户名或密码错误', async () => {
    await usernameInput.fill(USERNAME);
    await passwordInput.fill(`${PASSWORD}-wrong`);
    await loginButton.click();
    await visible(page.getByText(TEXT.invalidCredentials), TEXT.invalidCredentials);
  });

  await check('correct password shows the name, role label and an area', async () => {
    await usernameInput.fill(USERNAME);
    await passwordInput.fill(PASSWORD);
    await loginButton.click();
    await expectHome();
    assert(!(await page.getByText(TEXT.invalidCredentials).isVisible()), 'error still visible');
  });

  await check('online indicator says 在线', async () => {
    const text = (await page.getByTestId('net-status').innerText()).trim();
    assert(text === TEXT.online, `indicator says "${text}"`);
  });

  await check('reload keeps the user logged in', async () => {
    await page.reload({ waitUntil: 'domcontentloaded' });
    await expectHome();
    assert((await usernameInput.count()) === 0, 'the login form is shown');
  });

  await check('screenshot e2e/out/home.png', async () => {
    mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: join(outDir, 'home.png'), fullPage: true });
  });

  await check('service worker is ready within 10 s', async () => {
    const scope = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          if (!('serviceWorker' in navigator)) return reject(new Error('no serviceWorker API'));
          const timer = setTimeout(() => reject(new Error('not ready after 10 s')), 10_000);
          navigator.serviceWorker.ready.then((reg) => {
            clearTimeout(timer);
            resolve(reg.active ? reg.scope : null);
          }, reject);
        }),
    );
    assert(scope, 'no active service worker');
  });

  await check('offline reload still opens logged in', async () => {
    // Load once under the service worker's control, then cut the network.
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, {
      timeout: 10_000,
    });
    await context.setOffline(true);
    try {
      await page.reload({ waitUntil: 'domcontentloaded' });
      await expectHome();
      const text = (await page.getByTestId('net-status').innerText()).trim();
      assert(text === TEXT.offline, `indicator says "${text}" while offline`);
    } finally {
      await context.setOffline(false);
    }
  });

  await check('logout shows the login form again', async () => {
    await page.reload({ waitUntil: 'domcontentloaded' });
    await expectHome();
    await logoutButton.click();
    await visible(usernameInput, 'the username field');
    await visible(loginButton, 'the 登录 button');
  });

  await check('after logout a reload stays logged out and client_id is kept', async () => {
    await page.reload({ waitUntil: 'domcontentloaded' });
    await visible(usernameInput, 'the username field');
    const meta = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const req = indexedDB.open('fangzha');
          req.onerror = () => reject(req.error);
          req.onsuccess = () => {
            const db = req.result;
            const tx = db.transaction('meta', 'readonly');
            const store = tx.objectStore('meta');
            const session = store.get('session');
            const clientId = store.get('client_id');
            tx.oncomplete = () => {
              db.close();
              resolve({ session: session.result ?? null, clientId: clientId.result ?? null });
            };
            tx.onerror = () => reject(tx.error);
          };
        }),
    );
    assert(meta.session === null, 'a session is still stored');
    assert(typeof meta.clientId === 'string' && meta.clientId.length === 36, 'client_id missing');
  });

  await check('no uncaught errors in the page', async () => {
    assert(pageErrors.length === 0, pageErrors.join(' | '));
  });

  await context.close();
} catch (e) {
  failed++;
  console.log(`FAIL  setup: ${e instanceof Error ? e.message : e}`);
} finally {
  await browser.close();
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
