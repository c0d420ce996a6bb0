// Overview (#/): the cluster at a glance.

import {get, apiPath, withQuery, historyOrNull, NO_TRACE_STORE} from './api.js';
import {h, setText, badge, dataTable, fillTable, causeCell, timeElement, localDateTime, jobLink} from './dom.js';
import {bucketOutcomes, outcomesChart} from './chart.js';

const CHART_MINUTES = 60;
const CHART_LIMIT = 1000;
// The chart's hour is up to 1,000 rows for the API's single worker thread: read it every 30 s,
// not on every 2 s refresh. Per-minute bars lose nothing by that.
const CHART_READ_MS = 30_000;
const MINUTE = 60_000;

/** {page} (null without a trace store) or {error}: one history read failing hides nothing else. */
const settle = (promise) => promise.then((page) => ({page}), (error) => ({error}));

function summaryCard(label) {
  const value = h('span', {class: 'card-value'}, '–');
  return {value, element: h('div', {class: 'card'}, h('span', {class: 'card-label'}, label), value)};
}

function jobRow(job) {
  return h('tr', {'data-key': job.name},
    h('th', {scope: 'row'}, jobLink(job.name)),
    h('td', {}, badge(job.status)),
    h('td', {class: 'num'}, job.shard_count),
    h('td', {class: 'num'}, job.instances),
    h('td', {}, job.leader || '—'),
    h('td', {}, timeElement(job.next_fire_ms)),
    h('td', {}, job.schedule));
}

function instanceRow(instance) {
  return h('tr', {'data-key': instance.id},
    h('td', {}, instance.id), h('td', {}, instance.host), h('td', {class: 'num'}, instance.jobs.length));
}

function failureRow(event) {
  return h('tr', {'data-key': event.id},
    h('td', {}, jobLink(event.job_name)),
    h('td', {class: 'num'}, event.sharding_item),
    h('td', {}, timeElement(event.start_time_ms)),
    causeCell(event.failure_cause));
}

export function overviewPage() {
  const cards = {jobs: summaryCard('Jobs'), instances: summaryCard('Instances'), notOk: summaryCard('Jobs not OK')};
  const jobs = dataTable('Jobs', ['Name', 'Status', 'Shards', 'Instances', 'Leader', 'Next fire', 'Schedule']);
  const instances = dataTable('Instances', ['Id', 'Host', 'Jobs']);
  const failures = dataTable('Recent failures', ['Job', 'Item', 'Time', 'Cause']);
  const chartBox = h('div', {class: 'chart-box'});
  const chartNote = h('p', {class: 'note'});

  const element = h('section', {class: 'page'},
    h('h1', {tabindex: '-1'}, 'Overview'),
    h('div', {class: 'cards'}, cards.jobs.element, cards.instances.element, cards.notOk.element),
    h('section', {'aria-labelledby': 'jobs-heading'},
      h('div', {class: 'section-head'}, h('h2', {id: 'jobs-heading'}, 'Jobs'),
        h('a', {href: '#/new', class: 'button-link'}, 'Create a job')),
      jobs.wrapper),
    h('div', {class: 'columns'},
      h('section', {'aria-labelledby': 'instances-heading'},
        h('div', {class: 'section-head'}, h('h2', {id: 'instances-heading'}, 'Instances'),
          h('a', {href: '#/instances'}, 'Manage instances')),
        instances.wrapper),
      h('section', {'aria-labelledby': 'failures-heading'},
        h('div', {class: 'section-head'}, h('h2', {id: 'failures-heading'}, 'Recent failures'),
          h('a', {href: '#/history?success=false'}, 'All failures')),
        failures.wrapper)),
    h('section', {'aria-labelledby': 'outcomes-heading'},
      h('h2', {id: 'outcomes-heading'}, 'Task outcomes'), chartBox, chartNote));

  // The last hour as last read ({page} or {error}), when, and what the chart box shows now.
  let hour = null;
  let hourReadAt = 0;
  let drawn = '';

  async function readHour(end) {
    if (hour && Date.now() - hourReadAt < CHART_READ_MS) return;
    hourReadAt = Date.now();
    hour = await settle(historyOrNull(withQuery('/api/history/executions',
      {since: end - CHART_MINUTES * MINUTE, limit: CHART_LIMIT})));
  }

  /** Bars per whole minute, the newest one ending at `end`; redrawn only when they change. */
  function renderChart(end) {
    const {page, error} = hour;
    const buckets = page ? bucketOutcomes(page.events, end, CHART_MINUTES) : null;
    const width = chartBox.clientWidth - 32;
    const key = JSON.stringify([error?.message, page === null, buckets, end, width]);
    if (key === drawn) return;
    drawn = key;
    if (!page) {
      chartBox.replaceChildren(h('p', {class: error ? 'notice notice-error' : 'note'},
        error ? `No chart: ${error.message}` : `No chart. ${NO_TRACE_STORE}`));
      setText(chartNote, '');
      return;
    }
    const succeeded = buckets.reduce((sum, b) => sum + b.succeeded, 0);
    const failed = buckets.reduce((sum, b) => sum + b.failed, 0);
    const label = `Task outcomes in the last ${CHART_MINUTES} minutes: ${succeeded} succeeded, ${failed} failed`;
    chartBox.replaceChildren(outcomesChart(buckets, {now: end, label, width}),
      h('ul', {class: 'legend', 'aria-hidden': 'true'},
        h('li', {}, h('span', {class: 'swatch swatch-succeeded'}), `${succeeded} succeeded`),
        h('li', {}, h('span', {class: 'swatch swatch-failed'}), `${failed} failed`)));
    setText(chartNote, page.total > page.events.length
      ? `Capped: counts the newest ${page.events.length} of ${page.total} executions since ${localDateTime(end - CHART_MINUTES * MINUTE)}.`
      : '');
  }

  function renderFailures({page, error}) {
    if (error) fillTable(failures, [], `Cannot read the failures: ${error.message}`);
    else if (!page) fillTable(failures, [], NO_TRACE_STORE);
    else fillTable(failures, page.events.map(failureRow), 'No failed executions recorded.');
  }

  async function refresh() {
    const end = Math.ceil(Date.now() / MINUTE) * MINUTE;
    // The history reads fail on their own (trace store down: 503) without hiding jobs and instances.
    const [jobList, instanceList, recentFailures] = await Promise.all([
      get(apiPath('jobs')),
      get(apiPath('instances')),
      settle(historyOrNull(withQuery('/api/history/executions', {success: false, limit: 10}))),
      readHour(end),
    ]);
    setText(cards.jobs.value, jobList.length);
    setText(cards.instances.value, instanceList.length);
    setText(cards.notOk.value, jobList.filter((job) => job.status !== 'OK').length);
    fillTable(jobs, jobList.map(jobRow), 'No jobs yet.');
    fillTable(instances, instanceList.map(instanceRow), 'No live instances.');
    renderFailures(recentFailures);
    renderChart(end);
  }

  return {title: 'Overview', element, refresh};
}
