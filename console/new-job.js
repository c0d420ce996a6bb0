// New job (#/new): a config editor prefilled with a small job that works as it is.

import {get, post, apiPath, parseConfigOrSay} from './api.js';
import {h, jobHash} from './dom.js';

const TEMPLATE = {
  name: '',
  type: 'SCRIPT',
  cron: '0/10 * * * * ?',
  sharding_total_count: 2,
  props: {'script.command.line': '/bin/true'},
};

export function newJobPage(_params, app) {
  const editor = h('textarea', {id: 'new-config-text', rows: '14', spellcheck: 'false', autocapitalize: 'off',
    'aria-describedby': 'new-config-hint'}, JSON.stringify(TEMPLATE, null, 2));

  /** A refusal (400) goes to the message area and the text stays as typed, to be corrected. */
  async function create() {
    const config = parseConfigOrSay(editor.value, app.say);
    if (!config) return false;
    const job = await post(apiPath('jobs'), config);
    app.navigate(jobHash(job.name), `Created ${job.name}.`);
    return false; // the job's page reads the job
  }

  const element = h('section', {class: 'page narrow'},
    h('h1', {tabindex: '-1'}, 'New job'),
    h('form', {class: 'config-form', onsubmit: (event) => { event.preventDefault(); app.act(create); }},
      h('label', {for: 'new-config-text'}, 'Config (JSON)'),
      h('p', {id: 'new-config-hint', class: 'hint'},
        'One job with the keys of a job in the config file (see docs/configuration.md): give it a name; ',
        'type names the executor (SCRIPT, HTTP, or a plugin\'s type). The cron has six fields, seconds first.'),
      editor,
      h('div', {class: 'toolbar'}, h('button', {type: 'submit', class: 'primary'}, 'Create job'))));

  // Nothing here comes from the cluster. Reading the API index once still tells the status line
  // (and the token form) whether the API answers; polling it would tell nothing more, so once it
  // has answered the page goes offline (the shell stops refreshing it; the status keeps that time).
  const page = {title: 'New job', element, refresh};
  async function refresh() {
    await get('/api');
    page.offline = true;
  }

  return page;
}
