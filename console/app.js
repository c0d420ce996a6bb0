// The console's shell: hash routing, the live-refresh loop, messages, confirmations and the
// token form. Pages are built by the page modules; each returns
//   {title, element (holding one <h1 tabindex="-1">), refresh(): Promise, update?(params)}
// and gets `app` (below) to report results, ask for confirmation and navigate.

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

function report(error) {
  if (!error.status) console.error(error);
  if (error.status === 401) tokenForm.hidden = false;
  say(error.message, 'error');
}

/** Resolves true when the user confirms; Escape or "Cancel" resolve false. */
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

tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
  tokenInput.value = '';
  tokenForm.hidden = true;
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

const isLive = () => liveToggle.getAttribute('aria-pressed') === 'true';

function scheduleNext() {
  clearTimeout(timer);
  if (isLive() && !document.hidden) timer = setTimeout(refreshNow, REFRESH_MS);
}

async function refreshNow() {
  clearTimeout(timer);
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
      refreshStatus.classList.remove('status-error');
      setText(refreshStatus, `Updated ${clockTime(lastUpdated)}`);
      // The API answered, so no token is missing (unless the user is typing one right now).
      if (!tokenForm.contains(document.activeElement)) tokenForm.hidden = true;
    }
  } catch (error) {
    if (page === currentPage) {
      if (!error.status) console.error(error);
      if (error.status === 401) tokenForm.hidden = false;
      refreshStatus.classList.add('status-error');
      setText(refreshStatus, `Refresh failed: ${error.message}`);
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
  if (live) {
    refreshNow();
  } else {
    clearTimeout(timer);
    setText(refreshStatus, lastUpdated ? `Paused; updated ${clockTime(lastUpdated)}` : 'Paused');
  }
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

function notFoundPage() {
  return {
    title: 'Not found',
    element: h('section', {}, h('h1', {tabindex: '-1'}, 'Page not found'),
      h('p', {}, 'There is no such page. ', h('a', {href: '#/'}, 'Go to the overview'), '.')),
    refresh: async () => {},
  };
}

function parseRoute(hash) {
  const text = hash.replace(/^#/, '') || '/';
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
  const route = parseRoute(location.hash);
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
  refresh: refreshNow,
  report,
  say,
  confirm: confirmAction,
  navigate,
};

window.addEventListener('hashchange', () => showRoute({moveFocus: true}));
showRoute({moveFocus: false});
