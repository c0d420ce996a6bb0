// Instances (#/instances): the live processes, what they run, and per-process actions.

import {get, post, setEnabled, apiPath} from './api.js';
import {h, dataTable, fillTable, timeElement, jobLink} from './dom.js';

function jobLinks(names) {
  if (!names.length) return '—';
  return h('ul', {class: 'inline-list'}, names.map((name) => h('li', {}, jobLink(name))));
}

export function instancesPage(_params, app) {
  const table = dataTable('Instances',
    ['Id', 'Host', 'IP', 'PID', 'Labels', 'Version', 'HTTP', 'Started', 'Jobs', 'Disabled jobs', 'Actions']);

  async function setDisabled(id, disabled) {
    const answer = await setEnabled(apiPath('instances', id), !disabled);
    const changed = answer.jobs.length ? answer.jobs.join(', ') : 'no job changed';
    app.say(`${disabled ? 'Disabled' : 'Enabled'} ${id} (${changed}).`);
  }

  async function shutDown(id) {
    const confirmed = await app.confirm({title: `Shut down ${id}?`, action: 'Shut down',
      text: 'The process stops gracefully, as on SIGTERM: running shards finish, its shards move to ' +
        'other instances. Only whoever runs the process can start it again.'});
    if (!confirmed) return false;
    await post(`${apiPath('instances', id)}/shutdown`);
    app.say(`Asked ${id} to shut down.`);
  }

  function actionButton(label, id, key, onclick, extraClass = '') {
    return h('button', {type: 'button', class: `small ${extraClass}`.trim(), 'data-key': key,
      'aria-label': `${label} instance ${id}`, onclick}, label);
  }

  function instanceRow(instance) {
    const id = instance.id;
    return h('tr', {'data-key': id},
      h('th', {scope: 'row'}, id),
      h('td', {}, instance.host),
      h('td', {}, instance.ip),
      h('td', {class: 'num'}, instance.pid),
      h('td', {}, instance.labels.length ? instance.labels.join(', ') : '—'),
      h('td', {}, instance.version),
      h('td', {}, instance.http || '—'),
      h('td', {}, timeElement(instance.started_ms)),
      h('td', {}, jobLinks(instance.jobs)),
      h('td', {}, jobLinks(instance.disabled_jobs)),
      h('td', {}, h('div', {class: 'row-actions'},
        actionButton('Disable', id, 'disable', () => app.act(() => setDisabled(id, true))),
        actionButton('Enable', id, 'enable', () => app.act(() => setDisabled(id, false))),
        actionButton('Shut down', id, 'shutdown', () => app.act(() => shutDown(id)), 'danger'))));
  }

  const element = h('section', {class: 'page'},
    h('h1', {tabindex: '-1'}, 'Instances'),
    h('p', {class: 'lead'}, 'Disabling an instance moves its shards to the other instances, for every job; ',
      'it stays connected and takes shards again once enabled.'),
    table.wrapper);
  table.table.classList.add('table-compact'); // eleven columns: keep them within a laptop screen

  async function refresh() {
    const instances = await get(apiPath('instances'));
    fillTable(table, instances.map(instanceRow), 'No live instances.');
  }

  return {title: 'Instances', element, refresh};
}
