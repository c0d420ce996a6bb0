// Job detail (#/jobs/<name>): status, actions, shards and the config editor.

import {get, post, request, setEnabled, apiPath, withQuery, parseConfigOrSay} from './api.js';
import {h, setText, setContent, badge, badgeClass, dataTable, fillTable, timeElement, fireElement} from './dom.js';

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

  // The config editor: what the user edits is based on `loadedVersion`, which is what If-Match
  // sends, so a change someone else saved meanwhile is refused (409) instead of overwritten.
  let loaded = false;
  let loadedVersion = null;
  let edited = false;

  const status = h('span', {id: 'job-status', class: 'badge'}, '…');
  const description = h('p', {class: 'lead'});
  const configError = h('p', {class: 'notice notice-error', hidden: true});
  const missing = h('p', {class: 'notice', hidden: true}, `No job '${name}': it was deleted, or the name is mistyped. `,
    h('a', {href: '#/'}, 'See the jobs on the overview'), '.');
  const facts = {};
  const factList = h('dl', {class: 'facts'}, ['Schedule', 'Next fire', 'Leader', 'Instances', 'Shards',
    'Running shards', 'Executor', 'Config version'].map((label) => {
    facts[label] = h('dd', {}, '…');
    return h('div', {}, h('dt', {}, label), facts[label]);
  }));

  const toggleButton = h('button', {type: 'button', disabled: true, onclick: () => app.act(toggleJob)}, 'Disable');
  const shards = dataTable('Shards', ['Item', 'Owner', 'State', 'Last committed fire', 'Committed by', 'Lease', 'Action']);
  const editor = h('textarea', {id: 'config-text', rows: '22', spellcheck: 'false', readonly: true,
    autocapitalize: 'off', 'aria-describedby': 'config-hint config-note', oninput: () => setEdited(true)}, 'Loading…');
  const configNote = h('p', {id: 'config-note', class: 'hint'});
  const saveButton = h('button', {type: 'submit', class: 'primary', disabled: true}, 'Save config');
  const reloadButton = h('button', {type: 'button', hidden: true, onclick: () => app.act(reloadConfig)}, 'Reload');

  // Everything below the title, hidden while the job does not exist.
  const details = h('div', {},
    description,
    configError,
    h('div', {class: 'toolbar'},
      h('button', {type: 'button', class: 'primary', onclick: () => app.act(trigger)}, 'Trigger'),
      toggleButton,
      h('button', {type: 'button', class: 'danger', onclick: () => app.act(shutDown)}, 'Shut down'),
      h('button', {type: 'button', class: 'danger', onclick: () => app.act(remove)}, 'Delete'),
      h('a', {href: withQuery('#/history', {job: name}), class: 'toolbar-link'}, 'History of this job')),
    factList,
    h('section', {'aria-labelledby': 'shards-heading'}, h('h2', {id: 'shards-heading'}, 'Shards'), shards.wrapper),
    h('section', {'aria-labelledby': 'config-heading'},
      h('h2', {id: 'config-heading'}, 'Config'),
      h('form', {class: 'config-form', onsubmit: (event) => { event.preventDefault(); app.act(saveConfig); }},
        h('label', {for: 'config-text'}, 'Config (JSON)'),
        h('p', {id: 'config-hint', class: 'hint'}, 'The job\'s keys as in the config file ',
          '(docs/configuration.md). Live refresh leaves this text alone once you edit it.'),
        editor,
        configNote,
        h('div', {class: 'toolbar'}, saveButton, reloadButton))));

  const element = h('section', {class: 'page'},
    h('div', {class: 'title-row'}, h('h1', {tabindex: '-1'}, name), status), missing, details);

  function setEdited(value) {
    edited = value;
    reloadButton.hidden = !value;
  }

  /** A job being deleted (DELETING) has no config left: nothing to edit or save. */
  function showConfig(answer) {
    loaded = true;
    loadedVersion = answer.config_version;
    const hasConfig = Boolean(answer.config);
    editor.value = hasConfig ? pretty(answer.config) : '';
    editor.readOnly = !hasConfig;
    saveButton.disabled = !hasConfig;
    setText(configNote, hasConfig ? '' : 'This job is being deleted: its config is gone from the registry.');
    setEdited(false);
  }

  /** The button offers the opposite of the job's state, as last read or as the API just answered. */
  function showJobState() {
    setText(status, job.status);
    status.className = badgeClass(job.status);
    setText(toggleButton, job.disabled ? 'Enable' : 'Disable');
    toggleButton.disabled = false;
  }

  async function trigger() {
    const answer = await post(`${jobPath}/trigger`);
    app.say(`Triggered ${name}: fire ${answer.fire}.`);
  }

  async function toggleJob() {
    const answer = await setEnabled(jobPath, job.disabled);
    job = {...job, disabled: answer.disabled};
    showJobState();
    app.say(`${answer.disabled ? 'Disabled' : 'Enabled'} ${name}.`);
  }

  async function shutDown() {
    const confirmed = await app.confirm({title: `Shut down ${name}?`, action: 'Shut down',
      text: 'Every instance stops running this job until the instance restarts. The job stays in the registry.'});
    if (!confirmed) return false;
    const answer = await post(`${jobPath}/shutdown`);
    app.say(`Asked ${answer.instances.length} instance(s) to stop running ${name}: ${answer.instances.join(', ') || 'none'}.`);
  }

  async function remove() {
    const confirmed = await app.confirm({title: `Delete ${name}?`, action: 'Delete',
      text: 'The job\'s config, shards and progress are removed from the registry. This cannot be undone.'});
    if (!confirmed) return false;
    const answer = await request('DELETE', jobPath);
    app.navigate('#/', answer.state === 'deleted' ? `Deleted ${name}.`
      : `Deleting ${name}: waiting for ${answer.instances.join(', ')} to stop.`);
    return false; // the overview reads what is left
  }

  async function toggleShard(shard) {
    const answer = await setEnabled(`${jobPath}/shards/${shard.item}`, shard.disabled);
    app.say(`${answer.disabled ? 'Disabled' : 'Enabled'} shard ${answer.item} of ${name}.`);
  }

  async function saveConfig() {
    const config = parseConfigOrSay(editor.value, app.say);
    if (!config) return false;
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
        'aria-label': `${action} shard ${shard.item}`, onclick: () => app.act(() => toggleShard(shard))}, action)));
  }

  async function refresh() {
    // A save or reload finishing while this read is under way shows a newer config than this
    // answer: `version` tells that this answer is no longer the one to show.
    const version = loadedVersion;
    let answer, shardList;
    try {
      // A job being deleted has no shards to list any more (404), yet is still there.
      const noShards = (error) => (error.code === 'not_found' ? [] : Promise.reject(error));
      [answer, shardList] = await Promise.all([get(jobPath), get(`${jobPath}/shards`).catch(noShards)]);
    } catch (error) {
      if (error.code !== 'not_found') throw error;
      missing.hidden = false;
      details.hidden = true;
      status.hidden = true;
      return;
    }
    missing.hidden = true;
    details.hidden = false;
    status.hidden = false;
    job = answer;
    showJobState();
    setText(description, job.description || '');
    configError.hidden = !job.config_error;
    setText(configError, job.config_error ? `The config in the registry is not valid: ${job.config_error}` : '');
    setContent(facts['Schedule'], job.schedule);
    setContent(facts['Next fire'], timeElement(job.next_fire_ms));
    setContent(facts['Leader'], job.leader || '—');
    setContent(facts['Instances'], job.instances);
    setContent(facts['Shards'], job.shard_count);
    setContent(facts['Running shards'], job.running_shards ?? 'unknown');
    setContent(facts['Executor'], job.executor);
    setContent(facts['Config version'], job.config_version ?? '—');
    fillTable(shards, shardList.map(shardRow), 'No shards.');
    if (!edited && loadedVersion === version && (!loaded || job.config_version !== loadedVersion)) showConfig(job);
  }

  return {title: name, element, refresh};
}
