// How fast the web console comes up, and what an open console costs the API. Starts a real
// ZooKeeper and one `shardjob run` with 10 jobs, loads the overview ROUNDS times in a fresh
// Chromium tab, and prints the median and max of: navigation → the overview's <h1>, and →
// the first completed refresh ("Updated"). Then counts the API requests an open overview
// makes in 20 s. Uses the browser tests' harness and playwright-core (npm ci in tests/browser).
//
//   node bench/console/console_load_bench.mjs [BUILD_DIR] [ROUNDS]

import path from 'node:path';

import { heading, launchBrowser, waitForRefresh } from '../../tests/browser/browser.mjs';
import { Cluster } from '../../tests/browser/cluster.mjs';

const build = path.resolve(process.argv[2] ?? 'build');
const rounds = Number(process.argv[3] ?? 20);
const JOBS = 10;

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `median ${median.toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms`;
}

const cluster = new Cluster(build);
let browser;
try {
  await cluster.startZooKeeper();
  const { address } = await cluster.startInstance('bench');
  for (let i = 0; i < JOBS; ++i) {
    const response = await fetch(`http://${address}/api/jobs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: `job-${i}`, type: 'SCRIPT', cron: '0/5 * * * * ?',
                             sharding_total_count: 4,
                             props: { 'script.command.line': '/bin/true' } }),
    });
    if (response.status !== 201) throw new Error(`creating job-${i}: ${await response.text()}`);
  }
  browser = await launchBrowser();
  const toHeading = [];
  const toRefreshed = [];
  for (let round = 0; round < rounds; ++round) {
    const page = await browser.context.newPage();
    const start = performance.now();
    await page.goto(`http://${address}/console/`);
    await heading(page, 'Overview', 30000);
    toHeading.push(performance.now() - start);
    await waitForRefresh(page, 'the first refresh', 30000);
    toRefreshed.push(performance.now() - start);
    await page.close();
  }
  console.log(`console load, ${JOBS} jobs, ${rounds} rounds (${build})`);
  console.log(`  navigation -> overview heading:   ${summary(toHeading)}`);
  console.log(`  navigation -> first refresh done: ${summary(toRefreshed)}`);

  const page = await browser.context.newPage();
  let apiRequests = 0;
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith('/api/')) ++apiRequests;
  });
  await page.goto(`http://${address}/console/`);
  await waitForRefresh(page, 'the first refresh');
  const counted = apiRequests;
  await new Promise((resolve) => setTimeout(resolve, 20000));
  console.log(`  an open overview: ${apiRequests - counted} API requests in 20 s`);
} finally {
  await browser?.close();
  await cluster.stop();
}
