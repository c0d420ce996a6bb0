// Debian's Chromium, headless, driven by playwright-core (never a downloaded browser). Each
// launch gets a fresh profile in a temp dir, removed on close.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const LAPTOP = { width: 1366, height: 768 };
export const PHONE = { width: 390, height: 844 };

const CHROMIUM = process.env.SHARDJOB_CHROMIUM || '/usr/bin/chromium';

async function loadPlaywright() {
  try {
    return await import('playwright-core');
  } catch (error) {
    throw new Error('playwright-core is not installed: run `npm ci` in tests/browser ' +
                    `(scripts/test.sh does) (${error.message})`);
  }
}

// Resolves to { context, close() }. Chromium's background services are off: they would reach
// for the network, and without them every connection is to the cluster under test.
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} does not exist: install Debian's chromium package ` +
                    '(scripts/install-deps.sh does)');
  }
  const { chromium } = await loadPlaywright();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'shardjob-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: LAPTOP,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Everything the page reports that a working console never does: uncaught exceptions, console
// errors (a Content-Security-Policy violation is one), a file of the console that failed to
// load, a request that failed. The API's own 4xx answers are expected (the test provokes a 400
// and a 401) and are checked on the page instead. Returned as a list the test asserts empty.
export function collectPageProblems(page) {
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    // The browser logs every non-2xx answer as an error; those are judged by 'response' below.
    if (message.type() !== 'error' || message.text().startsWith('Failed to load resource')) return;
    problems.push(`console: ${message.text()}`);
  });
  page.on('response', (response) => {
    const { pathname } = new URL(response.url());
    if (response.status() >= 400 && !pathname.startsWith('/api/')) {
      problems.push(`${response.status()} for ${response.url()}`);
    }
  });
  page.on('requestfailed', (request) => {
    // A poll cut short by navigation is aborted by the browser, not failed by the server.
    if (request.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  return problems;
}

// Waits for the console's <h1> named `name`, exactly.
export async function heading(page, name, timeout = 10000) {
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor({ timeout });
}

// Waits until the status line tells of a completed refresh ("Updated hh:mm:ss"). The console
// resets that line to "Loading…" on every route change, so after a navigation this waits for
// the new page's first read, not the previous page's. `what` names the wait when it times out.
export async function waitForRefresh(page, what = 'a completed refresh', timeout = 20000) {
  try {
    await page.waitForFunction(
      () => /Updated \d\d:\d\d:\d\d/.test(document.getElementById('refresh-status')?.textContent ?? ''),
      null, { polling: 5, timeout });
  } catch (error) {
    const status = await page.locator('#refresh-status').textContent().catch(() => '?');
    throw new Error(`timed out waiting for ${what} (status: ${JSON.stringify(status)}): ${error.message}`);
  }
}

// True when the page does not scroll sideways at the current viewport width.
export async function fitsTheWidth(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}
