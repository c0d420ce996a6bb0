// Overview (#/): the cluster at a glance.

import {get, apiPath, withQuery} from './api.js';
import {h, setText, badge, dataTable, syncRows, emptyRow, timeElement, localDateTime} from './dom.js';
import {bucketOutcomes, outcomesChart} from './chart.js';

const CHART_MINUTES = 60;
const CHART_LIMIT = 1000;

/** History reads that answer null when no readable trace store is configured. */
async function historyOrNull(path) {
  try {
    return await get(path);
  } catch (error) {
    if (error.code === 'no_trace_store') return null;
    throw error;
  }
}

function summaryCard(label) {
  const value = h('span', {class: 'card-value'}, '–');
  return {value, element: h('div', {class: 'card'}, h('span', {class: 'card-label'}, label), value)};
}

function jobRow(job) {
  return h('tr', {'data-key': job.name},
    h('th', {scope: 'row'}, h('a', {href: `#/jobs/${encodeURIComponent(job.name)}`}, job.name)),
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
    h('td', {}, h('a', {href: `#/jobs/${encodeURIComponent(event.job_name)}`}, event.job_name)),
    h('td', {class: 'num'}, event.sharding_item),
    h('td', {}, timeElement(event.start_time_ms)),
    // Causes can be long (a script's whole stderr): three lines here, all of it on hover.
    h('td', {class: 'wrap'}, h('div', {class: 'clamp', title: event.failure_cause}, event.failure_cause || '—')));
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

  function renderChart(page, now) {
    if (!page) {
      chartBox.replaceChildren(h('p', {class: 'note'}, 'No chart: this instance has no trace store it can read ' +
        'back. Set tracing.type to SQLITE or POSTGRESQL to record task outcomes.'));
      setText(chartNote, '');
      return;
    }
    const buckets = bucketOutcomes(page.events, now, CHART_MINUTES);
    const succeeded = buckets.reduce((sum, b) => sum + b.succeeded, 0);
    const failed = buckets.reduce((sum, b) => sum + b.failed, 0);
    const label = `Task outcomes in the last ${CHART_MINUTES} minutes: ${succeeded} succeeded, ${failed} failed`;
    chartBox.replaceChildren(outcomesChart(buckets, {now, label, width: chartBox.clientWidth - 32}),
      h('ul', {class: 'legend', 'aria-hidden': 'true'},
        h('li', {}, h('span', {class: 'swatch swatch-succeeded'}), `${succeeded} succeeded`),
        h('li', {}, h('span', {class: 'swatch swatch-failed'}), `${failed} failed`)));
    setText(chartNote, page.total > page.events.length
      ? `Capped: counts the newest ${page.events.length} of ${page.total} executions since ${localDateTime(now - CHART_MINUTES * 60_000)}.`
      : '');
  }

  async function refresh() {
    const now = Date.now();
    const [jobList, instanceList, recentFailures, lastHour] = await Promise.all([
      get(apiPath('jobs')),
      get(apiPath('instances')),
      historyOrNull(withQuery('/api/history/executions', {success: false, limit: 10})),
      historyOrNull(withQuery('/api/history/executions', {since: now - CHART_MINUTES * 60_000, limit: CHART_LIMIT})),
    ]);
    setText(cards.jobs.value, jobList.length);
    setText(cards.instances.value, instanceList.length);
    setText(cards.notOk.value, jobList.filter((job) => job.status !== 'OK').length);
    syncRows(jobs.tbody, jobList.length ? jobList.map(jobRow)
      : [emptyRow(jobs.columnCount, 'No jobs yet.')]);
    syncRows(instances.tbody, instanceList.length ? instanceList.map(instanceRow)
      : [emptyRow(instances.columnCount, 'No live instances.')]);
    if (recentFailures) {
      syncRows(failures.tbody, recentFailures.events.length ? recentFailures.events.map(failureRow)
        : [emptyRow(failures.columnCount, 'No failed executions recorded.')]);
    } else {
      syncRows(failures.tbody, [emptyRow(failures.columnCount, 'No trace store that can be read back.')]);
    }
    renderChart(lastHour, now);
  }

  return {title: 'Overview', element, refresh};
}
