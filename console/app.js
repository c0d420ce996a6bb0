// The console's shell: hash routing, the live-refresh loop, messages, confirmations and the
// token form. Pages are built by the page modules; each returns
//   {title, element (holding one <h1 tabindex="-1">), refresh(): Promise, update?(params)}
// or {title, element, offline: true} for a page that reads nothing from the API (a page may also
// set `offline` once it has nothing more to read: refreshNow checks it on every call), and gets
// `app` (below) to run actions, report results, ask for confirmation and navigate.

import {TOKEN_KEY} from './api.js';
import {h, setText, clockTime} from './dom.js';
import {overviewPage} from './overview.js';
import {jobPage} from './job.js';
import {newJobPage} from './new-job.js';
import {instancesPage} from './instances.js';
import {historyPage} from './history.js';

const REFRESH_MS = 2000;

const pageContainer = document.getElementById('page');
const messageBox = document.getElementById('message');
const refreshStatus = document.getElementById('refresh-status');
const liveToggle = document.getElementById('live-toggle');
const tokenForm = document.getElementById('token-form');
const tokenInput = document.getElementById('token-input');
const dialog = document.getElementById('confirm-dialog');

// ---- Messages, confirmation, token ----------------------------------------------------------

function say(text, kind = 'success') {
  messageBox.className = `message message-${kind}`;
  messageBox.textContent = text;
}

function clearMessage() {
  messageBox.className = 'message';
  messageBox.textContent = '';
}

// After a 401 or 403 the API closes the connection, so polling with the same (missing or
// wrong) token would only reconnect and be refused every 2 s: wait for the token form instead.
let needsToken = false;

/** Logs what is not the API's answer; asks for a token when the API wants one. */
function noteFailure(error) {
  if (!error.status) console.error(error);
  if (error.status !== 401 && error.status !== 403) return;
  needsToken = true;
  if (tokenForm.hidden) {
    tokenForm.hidden = false;
    tokenInput.focus();
  }
}

function report(error) {
  noteFailure(error);
  say(error.message, 'error');
}

/** Resolves true when the user confirms; Escape, "Cancel" or leaving the page resolve false. */
function confirmAction({title, text, action}) {
  setText(document.getElementById('confirm-title'), title);
  setText(document.getElementById('confirm-text'), text);
  setText(document.getElementById('confirm-button'), action);
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), {once: true});
  });
}

let acting = false;

/**
 * Runs a page's action, one at a time; the API's refusal goes to the message area verbatim.
 * The page is re-read afterwards unless the action returns false (cancelled, or it left the page).
 */
async function act(action) {
  if (acting) return;
  acting = true;
  let changed = true;
  try {
    changed = (await action()) !== false;
  } catch (error) {
    report(error);
  } finally {
    acting = false;
  }
  if (changed) refreshNow();
}

tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  // An HTTP header carries Latin-1 at most (fetch throws otherwise) and a token is ASCII.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    say('The token can hold only printable ASCII characters, without spaces.', 'error');
    tokenInput.focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  tokenInput.value = '';
  tokenForm.hidden = true;
  needsToken = false;
  clearMessage();
  refreshNow();
});

// ---- Live refresh ---------------------------------------------------------------------------
// One refresh at a time; the next is scheduled only after the previous one finished, so a slow
// API never piles up requests (the API serves them one at a time anyway).

let currentPage = null;
let timer = 0;
let refreshing = false;
let refreshAgain = false;
let lastUpdated = null;
let lastOk = true;

const isLive = () => liveToggle.getAttribute('aria-pressed') === 'true';

function scheduleNext() {
  clearTimeout(timer);
  if (isLive() && !document.hidden && !needsToken) timer = setTimeout(refreshNow, REFRESH_MS);
}

/** "Updated …" every 2 s would be read out every 2 s: announce only a change between ok and failing. */
function showRefreshStatus(text, ok) {
  refreshStatus.setAttribute('aria-live', ok === lastOk ? 'off' : 'polite');
  refreshStatus.classList.toggle('status-error', !ok);
  lastOk = ok;
  setText(refreshStatus, text);
}

function showUpdated() {
  const time = clockTime(lastUpdated);
  showRefreshStatus(isLive() ? `Updated ${time}` : `Paused; updated ${time}`, true);
}

async function refreshNow() {
  clearTimeout(timer);
  if (currentPage.offline) return;
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  const page = currentPage;
  try {
    await page.refresh();
    if (page === currentPage) {
      lastUpdated = new Date();
      showUpdated();
      // The API answered, so no token is missing (unless the user is typing one right now).
      if (!tokenForm.contains(document.activeElement)) tokenForm.hidden = true;
    }
  } catch (error) {
    if (page === currentPage) {
      noteFailure(error);
      showRefreshStatus(`Refresh failed: ${error.message}`, false);
    }
  } finally {
    refreshing = false;
  }
  if (refreshAgain) {
    refreshAgain = false;
    refreshNow();
  } else {
    scheduleNext();
  }
}

liveToggle.addEventListener('click', () => {
  const live = !isLive();
  liveToggle.setAttribute('aria-pressed', String(live));
  // An offline page reads nothing, so resuming there only drops "Paused" from the status line.
  if (live && !currentPage.offline) refreshNow();
  else if (lastUpdated) showUpdated();
  else if (!live) showRefreshStatus('Paused', lastOk);
  if (!live) clearTimeout(timer);
});

document.addEventListener('visibilitychange', () => {
  if (document.hidden) clearTimeout(timer);
  else if (isLive()) refreshNow();
});

// ---- Routing --------------------------------------------------------------------------------

const PAGES = {
  overview: overviewPage,
  job: jobPage,
  new: newJobPage,
  instances: instancesPage,
  history: historyPage,
  missing: notFoundPage,
};

/** Reads nothing from the API, so it says nothing about it either (offline: no refresh). */
function notFoundPage() {
  return {
    title: 'Not found',
    offline: true,
    element: h('section', {}, h('h1', {tabindex: '-1'}, 'Page not found'),
      h('p', {}, 'There is no such page. ', h('a', {href: '#/'}, 'Go to the overview'), '.')),
  };
}

/** The page a hash names; null for a hash that is no route, such as "#main" (an in-page link). */
function parseRoute(hash) {
  if (hash && !hash.startsWith('#/')) return null;
  const text = hash.slice(1) || '/';
  const queryStart = text.indexOf('?');
  const path = queryStart < 0 ? text : text.slice(0, queryStart);
  const params = Object.fromEntries(new URLSearchParams(queryStart < 0 ? '' : text.slice(queryStart + 1)));
  if (path === '/' || path === '') return {name: 'overview', params};
  if (path === '/new') return {name: 'new', params};
  if (path === '/instances') return {name: 'instances', params};
  if (path === '/history') return {name: 'history', params};
  const job = path.match(/^\/jobs\/([^/]+)$/);
  if (job) {
    try {
      return {name: 'job', params: {name: decodeURIComponent(job[1])}};
    } catch {
      // A malformed %-escape: not a page.
    }
  }
  return {name: 'missing', params};
}

let currentRouteName = null;
let pendingMessage = null;

function showRoute({moveFocus}) {
  // A confirmation still open belongs to the page being left: its answer must not act there.
  if (dialog.open) dialog.close();
  const route = parseRoute(location.hash) ?? (currentPage ? null : parseRoute(''));
  if (!route) return;
  // History's filters and tabs live in the hash: the same page takes the new parameters,
  // keeping focus where the user is (on a tab, on "Next page").
  if (route.name === currentRouteName && currentPage.update) {
    currentPage.update(route.params);
    refreshNow();
    return;
  }
  clearMessage();
  if (pendingMessage) say(pendingMessage);
  pendingMessage = null;

  const page = PAGES[route.name](route.params, app);
  currentPage = page;
  currentRouteName = route.name;
  pageContainer.replaceChildren(page.element);
  // "Updated …" told of the page just left: until this one has been read, say so. (An offline
  // page is never read, so the line keeps what it said.) Nothing has failed here yet: ok.
  if (!page.offline) showRefreshStatus('Loading…', true);
  document.title = `${page.title} · shardjob console`;
  for (const link of document.querySelectorAll('nav a[data-route]')) {
    if (link.dataset.route === route.name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (moveFocus) page.element.querySelector('h1').focus();
  refreshNow();
}

/** Goes to a page, then shows `message` there (a route change clears older messages). */
function navigate(hash, message = null) {
  pendingMessage = message;
  if (location.hash === hash) showRoute({moveFocus: true});
  else location.hash = hash;
}

const app = {
  act,
  report,
  say,
  confirm: confirmAction,
  navigate,
};

// The skip link's "#main" is no route: focus the content without touching the hash.
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main').focus();
});

window.addEventListener('hashchange', () => showRoute({moveFocus: true}));
showRoute({moveFocus: false});
