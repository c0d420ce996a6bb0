// Job detail (#/jobs/<name>): status, actions, shards and the config editor.

import {get, post, request, apiPath, parseConfig} from './api.js';
import {h, setText, setContent, badge, dataTable, syncRows, emptyRow, timeElement, fireElement} from './dom.js';

const pretty = (config) => JSON.stringify(config, null, 2);

/** ElasticJob's precedence: a disabled shard is "disabled" even while a fire still runs it. */
function shardState(shard) {
  if (shard.disabled) return 'disabled';
  return shard.lease ? 'running' : 'enabled';
}

function leaseCell(lease) {
  if (!lease) return '—';
  return h('span', {title: `fencing token ${lease.token}`}, fireElement(lease.fire), ' on ', lease.instance);
}

export function jobPage({name}, app) {
  const jobPath = apiPath('jobs', name);
  let job = null;
  let busy = false;

  // The config editor: what the user edits is based on `loadedVersion`, which is what If-Match
  // sends, so a change someone else saved meanwhile is refused (409) instead of overwritten.
  let loadedVersion = null;
  let edited = false;

  const status = h('span', {id: 'job-status', class: 'badge'}, '…');
  const description = h('p', {class: 'lead'});
  const facts = {};
  const factList = h('dl', {class: 'facts'}, ['Schedule', 'Next fire', 'Leader', 'Instances', 'Shards',
    'Running shards', 'Executor', 'Config version'].map((label) => {
    facts[label] = h('dd', {}, '…');
    return h('div', {}, h('dt', {}, label), facts[label]);
  }));

  const toggleButton = h('button', {type: 'button', onclick: () => act(toggleJob)}, 'Disable');
  const shards = dataTable('Shards', ['Item', 'Owner', 'State', 'Last committed fire', 'Committed by', 'Lease', 'Action']);
  const editor = h('textarea', {id: 'config-text', rows: '22', spellcheck: 'false', readonly: true,
    autocapitalize: 'off', 'aria-describedby': 'config-hint', oninput: () => setEdited(true)}, 'Loading…');
  const reloadButton = h('button', {type: 'button', hidden: true, onclick: () => act(reloadConfig)}, 'Reload');

  const element = h('section', {class: 'page'},
    h('div', {class: 'title-row'}, h('h1', {tabindex: '-1'}, name), status),
    description,
    h('div', {class: 'toolbar'},
      h('button', {type: 'button', class: 'primary', onclick: () => act(trigger)}, 'Trigger'),
      toggleButton,
      h('button', {type: 'button', class: 'danger', onclick: () => act(shutDown)}, 'Shut down'),
      h('button', {type: 'button', class: 'danger', onclick: () => act(remove)}, 'Delete'),
      h('a', {href: `#/history?job=${encodeURIComponent(name)}`, class: 'toolbar-link'}, 'History of this job')),
    factList,
    h('section', {'aria-labelledby': 'shards-heading'}, h('h2', {id: 'shards-heading'}, 'Shards'), shards.wrapper),
    h('section', {'aria-labelledby': 'config-heading'},
      h('h2', {id: 'config-heading'}, 'Config'),
      h('form', {class: 'config-form', onsubmit: (event) => { event.preventDefault(); act(saveConfig); }},
        h('label', {for: 'config-text'}, 'Config (JSON)'),
        h('p', {id: 'config-hint', class: 'hint'}, 'The job\'s keys as in the config file ',
          '(docs/configuration.md). Live refresh leaves this text alone once you edit it.'),
        editor,
        h('div', {class: 'toolbar'}, h('button', {type: 'submit', class: 'primary'}, 'Save config'), reloadButton))));

  function setEdited(value) {
    edited = value;
    reloadButton.hidden = !value;
  }

  function showConfig(answer) {
    loadedVersion = answer.config_version;
    editor.value = pretty(answer.config);
    editor.readOnly = false;
    setEdited(false);
  }

  /** Runs one action at a time; the API's refusal goes to the message area verbatim. */
  async function act(action) {
    if (busy) return;
    busy = true;
    try {
      await action();
    } catch (error) {
      app.report(error);
    } finally {
      busy = false;
    }
    app.refresh();
  }

  async function trigger() {
    const answer = await post(`${jobPath}/trigger`);
    app.say(`Triggered ${name}: fire ${answer.fire}.`);
  }

  async function toggleJob() {
    const answer = await post(`${jobPath}/${job?.disabled ? 'enable' : 'disable'}`);
    setText(toggleButton, answer.disabled ? 'Enable' : 'Disable');
    app.say(`${answer.disabled ? 'Disabled' : 'Enabled'} ${name}.`);
  }

  async function shutDown() {
    const confirmed = await app.confirm({title: `Shut down ${name}?`, action: 'Shut down',
      text: 'Every instance stops running this job until the instance restarts. The job stays in the registry.'});
    if (!confirmed) return;
    const answer = await post(`${jobPath}/shutdown`);
    app.say(`Asked ${answer.instances.length} instance(s) to stop running ${name}: ${answer.instances.join(', ') || 'none'}.`);
  }

  async function remove() {
    const confirmed = await app.confirm({title: `Delete ${name}?`, action: 'Delete',
      text: 'The job\'s config, shards and progress are removed from the registry. This cannot be undone.'});
    if (!confirmed) return;
    const answer = await request('DELETE', jobPath);
    app.navigate('#/', answer.state === 'deleted' ? `Deleted ${name}.`
      : `Deleting ${name}: waiting for ${answer.instances.join(', ')} to stop.`);
  }

  async function toggleShard(shard) {
    const answer = await post(`${jobPath}/shards/${shard.item}/${shard.disabled ? 'enable' : 'disable'}`);
    app.say(`${answer.disabled ? 'Disabled' : 'Enabled'} shard ${answer.item} of ${name}.`);
  }

  async function saveConfig() {
    let config;
    try {
      config = parseConfig(editor.value);
    } catch (error) {
      app.say(error.message, 'error');
      return;
    }
    try {
      showConfig(await request('PUT', jobPath, {body: config, ifMatch: loadedVersion}));
      app.say(`Saved the config of ${name} (version ${loadedVersion}).`);
    } catch (error) {
      if (error.status !== 409) throw error;
      reloadButton.hidden = false;
      app.say(`${error.message}. Someone else changed this job's config after you loaded it. ` +
        'Use "Reload" to see their version (your edits here are replaced), then make your change again.', 'error');
    }
  }

  async function reloadConfig() {
    showConfig(await get(jobPath));
    app.say(`Reloaded the config of ${name} (version ${loadedVersion}).`);
  }

  function shardRow(shard) {
    const action = shard.disabled ? 'Enable' : 'Disable';
    return h('tr', {'data-key': shard.item},
      h('th', {scope: 'row', class: 'num'}, shard.item),
      h('td', {}, shard.owner ?? '—'),
      h('td', {}, badge(shardState(shard))),
      h('td', {}, fireElement(shard.committed_fire)),
      h('td', {}, shard.committed_by ?? '—'),
      h('td', {}, leaseCell(shard.lease)),
      h('td', {}, h('button', {type: 'button', class: 'small', 'data-key': 'toggle',
        'aria-label': `${action} shard ${shard.item}`, onclick: () => act(() => toggleShard(shard))}, action)));
  }

  async function refresh() {
    const [answer, shardList] = await Promise.all([get(jobPath), get(`${jobPath}/shards`)]);
    job = answer;
    setText(status, job.status);
    status.className = badge(job.status).className;
    setText(description, job.description || '');
    setContent(facts['Schedule'], job.schedule);
    setContent(facts['Next fire'], timeElement(job.next_fire_ms));
    setContent(facts['Leader'], job.leader || '—');
    setContent(facts['Instances'], job.instances);
    setContent(facts['Shards'], job.shard_count);
    setContent(facts['Running shards'], job.running_shards ?? 'unknown');
    setContent(facts['Executor'], job.executor);
    setContent(facts['Config version'], job.config_version);
    setText(toggleButton, job.disabled ? 'Enable' : 'Disable');
    syncRows(shards.tbody, shardList.length ? shardList.map(shardRow) : [emptyRow(shards.columnCount, 'No shards.')]);
    if (!edited && (editor.readOnly || job.config_version !== loadedVersion)) showConfig(job);
  }

  return {title: name, element, refresh};
}
