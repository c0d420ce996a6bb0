// History (#/history?...): the trace store's executions and status trace, filtered and paged.
// The filters live in the hash, so a filtered view can be bookmarked and shared, and the
// browser's back button steps back through them.

import {historyOrNull, withQuery, NO_TRACE_STORE} from './api.js';
import {h, setText, badge, dataTable, fillTable, causeCell, timeElement, fireElement, duration,
  toDateTimeLocal, jobLink} from './dom.js';

const PAGE_SIZE = 50;

function executionRow(event) {
  const outcome = !event.complete_time_ms ? 'running' : event.success ? 'succeeded' : 'failed';
  return h('tr', {'data-key': event.id},
    h('td', {}, timeElement(event.start_time_ms)),
    h('td', {}, jobLink(event.job_name)),
    h('td', {class: 'num'}, event.sharding_item),
    h('td', {}, fireElement(event.fire_id)),
    h('td', {}, event.instance_id),
    h('td', {}, event.source),
    h('td', {class: 'num'}, event.complete_time_ms ? duration(event.complete_time_ms - event.start_time_ms) : '—'),
    h('td', {}, badge(outcome)),
    causeCell(event.failure_cause));
}

function statusRow(event) {
  return h('tr', {'data-key': event.id},
    h('td', {}, timeElement(event.creation_time_ms)),
    h('td', {}, jobLink(event.job_name)),
    h('td', {}, fireElement(event.fire_id)),
    h('td', {}, String(event.sharding_items).replace(/^\[|\]$/g, '')),
    h('td', {}, badge(event.state)),
    h('td', {class: 'wrap'}, event.message),
    h('td', {}, h('code', {}, event.task_id)));
}

const TABS = {
  executions: {
    label: 'Executions',
    endpoint: '/api/history/executions',
    filters: ['job', 'instance', 'item', 'success', 'since', 'until'],
    columns: ['Started', 'Job', 'Item', 'Fire', 'Instance', 'Source', 'Duration', 'Outcome', 'Failure cause'],
    row: executionRow,
  },
  status: {
    label: 'Status trace',
    endpoint: '/api/history/status',
    filters: ['job', 'instance', 'state', 'since', 'until'],
    columns: ['Time', 'Job', 'Fire', 'Items', 'State', 'Message', 'Task id'],
    row: statusRow,
  },
};

/** The filters holding a time: an ISO instant in the hash, local time in the form, epoch ms for the API. */
const TIME_FILTERS = new Set(['since', 'until']);

/** Hash times are ISO (readable, shareable) or epoch ms; the API gets epoch ms. */
function toEpochMs(value) {
  if (!value) return '';
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : ms; // let the API name what is wrong with it
}

function field(label, control, hint) {
  return h('div', {class: 'field'}, h('label', {for: control.id}, label), control, hint);
}

export function historyPage(initialParams) {
  let params = {};
  let tab = 'executions';
  // Bumped by every change of tab, filters or page, so that an answer to an older question,
  // arriving late, is dropped instead of shown under the new one.
  let generation = 0;

  const inputs = {
    job: h('input', {id: 'filter-job', name: 'job', type: 'text', autocomplete: 'off', spellcheck: 'false'}),
    instance: h('input', {id: 'filter-instance', name: 'instance', type: 'text', autocomplete: 'off', spellcheck: 'false'}),
    item: h('input', {id: 'filter-item', name: 'item', type: 'text', inputmode: 'numeric', autocomplete: 'off'}),
    success: h('select', {id: 'filter-success', name: 'success'},
      h('option', {value: ''}, 'Any'), h('option', {value: 'true'}, 'Succeeded'), h('option', {value: 'false'}, 'Failed')),
    state: h('select', {id: 'filter-state', name: 'state'}, h('option', {value: ''}, 'Any'),
      ['TASK_STAGING', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_ERROR', 'TASK_DROPPED'].map((s) => h('option', {value: s}, s))),
    since: h('input', {id: 'filter-since', name: 'since', type: 'datetime-local', step: '1'}),
    until: h('input', {id: 'filter-until', name: 'until', type: 'datetime-local', step: '1'}),
  };
  const fields = {
    job: field('Job', inputs.job),
    instance: field('Instance', inputs.instance),
    item: field('Item', inputs.item),
    success: field('Outcome', inputs.success),
    state: field('State', inputs.state),
    since: field('Since', inputs.since),
    until: field('Until', inputs.until),
  };

  const tabButtons = Object.fromEntries(Object.entries(TABS).map(([key, spec]) => [key,
    h('button', {type: 'button', role: 'tab', id: `tab-${key}`, 'aria-controls': 'history-panel',
      onclick: () => { if (key !== tab) goTo({...keptFilters(), tab: key}); }}, spec.label)]));
  const tables = Object.fromEntries(Object.entries(TABS).map(([key, spec]) => [key, dataTable(spec.label, spec.columns)]));

  const pageInfo = h('p', {class: 'page-info'});
  const previousButton = h('button', {type: 'button', onclick: () => page(-1)}, 'Previous page');
  const nextButton = h('button', {type: 'button', onclick: () => page(+1)}, 'Next page');
  const results = h('div', {}, tables.executions.wrapper, tables.status.wrapper,
    h('div', {class: 'pager'}, pageInfo, h('div', {class: 'toolbar'}, previousButton, nextButton)));
  const noStore = h('p', {class: 'notice', hidden: true}, NO_TRACE_STORE);
  const failure = h('p', {class: 'notice notice-error', hidden: true});

  const form = h('form', {class: 'filters', onsubmit: (event) => { event.preventDefault(); goTo(formFilters()); }},
    Object.values(fields),
    h('div', {class: 'toolbar filter-actions'},
      h('button', {type: 'submit', class: 'primary'}, 'Apply'),
      h('button', {type: 'button', onclick: () => goTo({tab})}, 'Clear')));

  const tablist = h('div', {role: 'tablist', 'aria-label': 'History', class: 'tabs', onkeydown: onTabKey},
    Object.values(tabButtons));

  const element = h('section', {class: 'page'},
    h('h1', {tabindex: '-1'}, 'History'),
    tablist,
    h('div', {id: 'history-panel', role: 'tabpanel'}, form, noStore, failure, results));

  // ---- The hash is the state ----

  function goTo(filters) {
    location.hash = withQuery('#/history', filters);
  }

  /** The filters both tabs share, so switching tabs keeps them. */
  function keptFilters() {
    const {job = '', instance = '', since = '', until = ''} = params;
    return {job, instance, since, until};
  }

  function formFilters() {
    const filters = {tab};
    for (const name of TABS[tab].filters) {
      const value = inputs[name].value.trim();
      filters[name] = TIME_FILTERS.has(name) && value ? new Date(value).toISOString() : value;
    }
    return filters;
  }

  function page(direction) {
    const offset = Math.max(0, (Number(params.offset) || 0) + direction * PAGE_SIZE);
    goTo({...params, offset: offset || ''});
  }

  function onTabKey(event) {
    const keys = Object.keys(TABS);
    const index = keys.indexOf(tab);
    const next = {ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: keys.length - 1}[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const target = keys[(next + keys.length) % keys.length];
    tabButtons[target].focus();
    if (target !== tab) goTo({...keptFilters(), tab: target});
  }

  function update(newParams) {
    generation += 1;
    params = newParams;
    tab = params.tab === 'status' ? 'status' : 'executions';
    for (const [key, button] of Object.entries(tabButtons)) {
      button.setAttribute('aria-selected', String(key === tab));
      button.tabIndex = key === tab ? 0 : -1;
    }
    element.querySelector('[role=tabpanel]').setAttribute('aria-labelledby', `tab-${tab}`);
    for (const [name, box] of Object.entries(fields)) box.hidden = !TABS[tab].filters.includes(name);
    for (const name of Object.keys(inputs)) {
      const value = params[name] ?? '';
      const ms = TIME_FILTERS.has(name) ? toEpochMs(value) : null;
      inputs[name].value = typeof ms === 'number' ? toDateTimeLocal(ms) : value;
    }
    tables.executions.wrapper.hidden = tab !== 'executions';
    tables.status.wrapper.hidden = tab !== 'status';
  }

  async function refresh() {
    const asked = generation;
    const spec = TABS[tab];
    const table = tables[tab];
    const offset = Number(params.offset) || 0;
    const query = {offset, limit: PAGE_SIZE};
    for (const name of spec.filters) {
      query[name] = TIME_FILTERS.has(name) ? toEpochMs(params[name]) : params[name];
    }
    let answer;
    try {
      answer = await historyOrNull(withQuery(spec.endpoint, query));
    } catch (error) {
      if (asked !== generation) return;
      // A refused filter (400): the rows shown belong to other filters, so they go.
      if (error.status === 400) showRows(table, [], offset, 0, 'No results: the API refused these filters.');
      failure.hidden = false;
      setText(failure, error.message);
      throw error;
    }
    if (asked !== generation) return;
    failure.hidden = true;
    noStore.hidden = answer !== null;
    results.hidden = answer === null;
    if (answer) showRows(table, answer.events.map(spec.row), offset, answer.total, 'Nothing recorded matches these filters.');
  }

  function showRows(table, rows, offset, total, emptyText) {
    fillTable(table, rows, emptyText);
    setText(pageInfo, `Showing ${rows.length ? offset + 1 : 0}–${rows.length ? offset + rows.length : 0} of ${total}`);
    setPagerButton(previousButton, offset === 0, nextButton);
    setPagerButton(nextButton, offset + rows.length >= total, previousButton);
  }

  /** Disabling the focused pager button would drop focus to <body>: hand it to the other one. */
  function setPagerButton(button, disabled, other) {
    if (disabled && document.activeElement === button && !other.disabled) other.focus();
    button.disabled = disabled;
  }

  update(initialParams);
  return {title: 'History', element, refresh, update};
}
