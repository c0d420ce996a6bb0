// The web console in a real browser against a real cluster: ZooKeeper and two `shardjob run`
// processes, started here. An operator's session, step by step: the overview, a job created
// (after a refused one), triggered and seen in the history, a shard disabled and seen skipped, an
// instance killed and seen leaving, all without reloading the page; then the console at phone
// width, by keyboard, and behind a token. Screenshots go to $SHARDJOB_SCREENSHOTS (default
// <build>/console-screenshots).
//
//   SHARDJOB_BUILD=build node --test tests/browser/console.test.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { collectPageProblems, fitsTheWidth, heading as headingOf, launchBrowser, LAPTOP, PHONE, waitForRefresh }
  from './browser.mjs';
import { Cluster, waitFor } from './cluster.mjs';

const BUILD = path.resolve(process.env.SHARDJOB_BUILD ?? new URL('../../build', import.meta.url).pathname);
const SHOTS = path.resolve(process.env.SHARDJOB_SCREENSHOTS ?? path.join(BUILD, 'console-screenshots'));
const JOB = 'console-e2e';
const NONE = '—';  // what the console shows for no value
const TOKEN = 'console-test-token';

let cluster;
let first;   // the instance whose console the test uses
let second;  // the one it kills
let browser;
let page;
let problems;

async function screenshot(name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function api(instance, target) {
  const response = await fetch(`http://${instance.address}${target}`);
  const body = await response.text();
  assert.equal(response.status, 200, `GET ${target}: ${body}`);
  return JSON.parse(body);
}

// The rows of the table named `name`, each as { header text: cell text }.
async function tableRows(name) {
  return page.getByRole('table', { name, exact: true }).evaluate((table) => {
    const headers = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
    return [...table.querySelectorAll('tbody tr')].map((row) => {
      const cells = [...row.querySelectorAll('th, td')].map((cell) => cell.textContent.trim());
      return Object.fromEntries(headers.map((header, i) => [header, cells[i] ?? '']));
    });
  });
}

async function heading(name) {
  await headingOf(page, name);
}

async function isFocused(locator) {
  return locator.evaluate((element) => element === document.activeElement);
}

// Presses Tab until `locator` has the focus, at most 60 times.
async function tabTo(locator, what) {
  for (let presses = 0; presses < 60; ++presses) {
    if (await isFocused(locator)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`${what} is not reachable with Tab`);
}

async function message() {
  return (await page.locator('#message').textContent()) ?? '';
}

function mainNav(name) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  cluster = new Cluster(BUILD);
  await cluster.startZooKeeper();
  first = await cluster.startInstance('first');
  second = await cluster.startInstance('second');
  browser = await launchBrowser();
  page = await browser.context.newPage();
  problems = collectPageProblems(page);
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    await cluster?.stop();
  }
});

test('the overview shows both instances, and / leads to the console', async () => {
  await page.goto(`http://${first.address}/`);
  assert.equal(new URL(page.url()).pathname, '/console/');
  await heading('Overview');
  await waitFor('both instances on the overview',
                async () => (await tableRows('Instances')).length === 2);
  // Marks this page load: if the console ever reloaded the page, the mark would be gone.
  await page.evaluate(() => { window.loadedOnce = true; });
  // The first refresh: "Updated …" replaces the "Loading…" the page starts with.
  await waitForRefresh(page, 'the first refresh');
});

test('a refused config shows the reason; a valid one creates the job', async () => {
  // By keyboard: the skip link comes first, then the main navigation.
  await page.keyboard.press('Tab');
  assert.ok(await isFocused(page.getByRole('link', { name: 'Skip to content' })),
            'the first Tab does not reach "Skip to content"');
  await tabTo(mainNav('New job'), 'the "New job" link');
  await page.keyboard.press('Enter');
  await heading('New job');

  const config = page.getByLabel('Config (JSON)');
  await config.fill(JSON.stringify({
    name: JOB, type: 'SCRIPT', sharding_total_conut: 2,
    props: { 'script.command.line': '/bin/true' },
  }, null, 2));
  await page.getByRole('button', { name: 'Create job' }).click();
  await waitFor('the validation error', async () => (await message()).includes('sharding_total_conut'));
  await screenshot('new-job-refused');

  // No cron: it runs when triggered, so every execution below is one the test asked for.
  await config.fill(JSON.stringify({
    name: JOB, type: 'SCRIPT', sharding_total_count: 2, description: 'made by the browser test',
    props: { 'script.command.line': '/bin/true' },
  }, null, 2));
  await page.getByRole('button', { name: 'Create job' }).click();
  await heading(JOB);
  const job = await api(first, `/api/jobs/${JOB}`);
  assert.equal(job.config.sharding_total_count, 2);
});

test('the job runs on both instances; a trigger shows in the history', async () => {
  await waitFor('a shard on each instance', async () => {
    const shards = await tableRows('Shards');
    return shards.length === 2 && shards.every((shard) => shard.Owner !== NONE) &&
      shards[0].Owner !== shards[1].Owner;
  });
  await waitFor('status OK', async () => (await page.locator('#job-status').textContent()) === 'OK');
  await page.getByRole('button', { name: 'Trigger', exact: true }).focus();
  await page.keyboard.press('Enter');
  await waitFor('both shards committed', async () =>
    (await tableRows('Shards')).every((shard) => shard['Last committed fire'] !== NONE));
  await screenshot('job');

  await mainNav('History').click();
  await heading('History');
  await page.getByLabel('Job', { exact: true }).fill(JOB);
  await page.getByRole('button', { name: 'Apply' }).click();
  const executions = await waitFor('two executions in the history', async () => {
    const rows = await tableRows('Executions');
    return rows.length === 2 && rows.every((row) => row.Outcome === 'succeeded') && rows;
  });
  assert.deepEqual(executions.map((row) => row.Item).sort(), ['0', '1']);
  assert.ok(executions.every((row) => row.Job === JOB));
  await screenshot('history');
});

test('a config edited in the console is saved to the registry', async () => {
  await mainNav('Overview').click();
  await heading('Overview');
  await page.getByRole('table', { name: 'Jobs', exact: true })
    .getByRole('link', { name: JOB, exact: true }).click();
  await heading(JOB);
  const editor = page.getByLabel('Config (JSON)');
  await waitFor('the config in the editor', async () => (await editor.inputValue()).includes(JOB));
  const edited = JSON.parse(await editor.inputValue());
  edited.description = 'edited in the console';
  await editor.fill(JSON.stringify(edited, null, 2));
  await page.getByRole('button', { name: 'Save config' }).click();
  await waitFor('the saved description', async () =>
    (await api(first, `/api/jobs/${JOB}`)).config.description === 'edited in the console');
});

test('a disabled shard is skipped by the next fire', async () => {
  const before = await tableRows('Shards');
  const firstFire = before.find((shard) => shard.Item === '0')['Last committed fire'];
  assert.equal(before.find((shard) => shard.Item === '1')['Last committed fire'], firstFire);

  await page.getByRole('button', { name: 'Disable shard 1', exact: true }).click();
  await waitFor('shard 1 shown disabled', async () =>
    (await tableRows('Shards')).find((shard) => shard.Item === '1')?.State === 'disabled');
  // The leader takes the shard out of the assignment; its owner stops running it once it has
  // read that. Both happen before the trigger below is written, so the trigger finds it ownerless.
  await waitFor('the leader to unassign shard 1', async () => {
    const shard = (await api(first, `/api/jobs/${JOB}/shards`)).find((s) => s.item === 1);
    return shard?.disabled && shard.owner === null;
  });

  await page.getByRole('button', { name: 'Trigger', exact: true }).click();
  const after = await waitFor('shard 0 to commit the second fire', async () => {
    const shards = await tableRows('Shards');
    const zero = shards.find((shard) => shard.Item === '0');
    return zero['Last committed fire'] !== firstFire && shards;
  });
  assert.equal(after.find((shard) => shard.Item === '1')['Last committed fire'], firstFire,
               'the disabled shard ran');
  await screenshot('job-shard-disabled');

  // The history agrees: three executions, shard 1 only in the first fire. (Trace events are
  // written asynchronously: wait for the third.)
  const history = await waitFor('the second fire in the history', async () => {
    const page = await api(first, `/api/history/executions?job=${JOB}`);
    return page.total >= 3 && page;
  });
  assert.equal(history.total, 3);
  assert.equal(history.events.filter((event) => event.sharding_item === 1).length, 1);
});

test('an instance killed with SIGKILL leaves the instance list, without a reload', async () => {
  const instances = await api(first, '/api/instances');
  const victim = instances.find((instance) => instance.pid === second.child.pid);
  assert.ok(victim, `no instance with pid ${second.child.pid} in ${JSON.stringify(instances)}`);

  await mainNav('Instances').click();
  await heading('Instances');
  await waitFor('both instances listed', async () => (await tableRows('Instances')).length === 2);
  await screenshot('instances');

  await second.child.stop('SIGKILL');
  // Its session expires after 3 s; the page's live refresh shows it gone.
  const left = await waitFor('the killed instance to leave the list', async () => {
    const rows = await tableRows('Instances');
    return rows.length === 1 && rows;
  }, 30000);
  assert.equal(left[0].Id, instances.find((instance) => instance !== victim).id);
  assert.equal(await page.evaluate(() => window.loadedOnce), true, 'the page was reloaded');
  await screenshot('instances-after-kill');
});

test('every page fits a phone and a laptop', async () => {
  for (const [width, viewport] of [['phone', PHONE], ['laptop', LAPTOP]]) {
    await page.setViewportSize(viewport);
    for (const [route, title] of [['#/', 'Overview'], [`#/jobs/${JOB}`, JOB],
                                  ['#/instances', 'Instances'], [`#/history?job=${JOB}`, 'History'],
                                  ['#/new', 'New job']]) {
      await page.evaluate((hash) => { location.hash = hash; }, route);
      await heading(title);
      await waitForRefresh(page, `${title} refreshed`); // this page's read, not the previous one's
      assert.ok(await fitsTheWidth(page), `${title} scrolls sideways at ${width} width`);
      if (width === 'phone') await screenshot(`phone-${title === JOB ? 'job' : title.toLowerCase().replace(' ', '-')}`);
    }
  }
  await page.evaluate(() => { location.hash = '#/'; });
  await heading('Overview');
  await screenshot('overview');
});

test('the console asks for the token of an instance that has one', async () => {
  const guarded = await cluster.startInstance('guarded', { token: TOKEN });
  const other = await browser.context.newPage();
  const otherProblems = collectPageProblems(other);
  try {
    await other.goto(`http://${guarded.address}/console/`);
    const field = other.getByLabel('API token');
    await field.waitFor({ timeout: 10000 });
    await field.fill(TOKEN);
    await other.getByRole('button', { name: 'Use token' }).click();
    await waitFor('the jobs behind the token', async () =>
      (await other.getByRole('table', { name: 'Jobs', exact: true })
        .getByRole('link', { name: JOB, exact: true }).count()) === 1);
  } finally {
    await other.close();
  }
  assert.deepEqual(otherProblems, []);
});

test('the console met no script error, blocked resource or failed request', () => {
  assert.deepEqual(problems, [], cluster.logs());
});
