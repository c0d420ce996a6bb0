// Small DOM helpers. Every piece of data reaches the page as a text node or an attribute value,
// never as markup: job names, failure causes and messages come from the cluster and from users.

function appendChildren(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

function applyProps(element, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
}

/** h('button', {class: 'primary', onclick: fn}, 'Save') */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  applyProps(element, props);
  appendChildren(element, children);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag, props = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  applyProps(element, props);
  appendChildren(element, children);
  return element;
}

/** Writes only on change, so live regions and selections are left alone when nothing moved. */
export function setText(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}

/** Replaces an element's content only when it would look different. */
export function setContent(element, ...children) {
  const next = document.createElement('div');
  appendChildren(next, children);
  const same = next.childNodes.length === element.childNodes.length &&
    [...next.childNodes].every((node, i) => node.isEqualNode(element.childNodes[i]));
  if (!same) element.replaceChildren(...next.childNodes);
}

const pad = (n) => String(n).padStart(2, '0');

export function clockTime(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function localDateTime(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clockTime(d)}`;
}

/** The value a datetime-local input shows for an instant, in local time. */
export function toDateTimeLocal(ms) {
  return localDateTime(ms).replace(' ', 'T');
}

/** Local time for people, the exact ISO instant on hover and for machines. */
export function timeElement(ms, extraTitle = '') {
  if (!ms) return '—';
  const iso = new Date(ms).toISOString();
  const [date, clock] = localDateTime(ms).split(' ');
  // Two spans so that a narrow column breaks between date and time, never inside the date.
  return h('time', {datetime: iso, title: extraTitle ? `${iso} (${extraTitle})` : iso},
    h('span', {}, date), ' ', h('span', {}, clock));
}

/** A fire id is the scheduled time in epoch ms, or a name such as "trigger-0000000003". */
export function fireElement(fire) {
  if (!fire) return '—';
  return /^\d+$/.test(fire) ? timeElement(Number(fire), `fire ${fire}`) : h('code', {}, fire);
}

/** 850 ms, 12.3 s, 4 min 5 s. Rounded first, so that 59,960 ms reads "1 min 0 s", not "60.0 s". */
export function duration(ms) {
  if (!(ms >= 0)) return '—'; // a clock stepped back between start and end
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

export const jobHash = (name) => `#/jobs/${encodeURIComponent(name)}`;

/** A link to a job's page, named by the job. */
export function jobLink(name) {
  return h('a', {href: jobHash(name)}, name);
}

/** The classes of a status word's badge: its tint follows the word. */
export function badgeClass(text) {
  const kind = String(text).toLowerCase().replace(/^task_/, '').replace(/[^a-z]+/g, '-');
  return `badge badge-${kind}`;
}

/** A status word in a tinted box; the word itself carries the meaning, the tint only helps. */
export function badge(text) {
  return h('span', {class: badgeClass(text)}, text);
}

/** A failure cause: can be long (a script's whole stderr), so three lines, all of it on hover. */
export function causeCell(cause) {
  return h('td', {class: 'wrap'}, h('div', {class: 'clamp', title: cause}, cause || '—'));
}

/**
 * A table inside a labelled, focusable wrapper that scrolls sideways on its own, so a wide
 * table never makes the whole page scroll on a phone and keyboard users can still scroll it.
 */
export function dataTable(label, columns) {
  const tbody = h('tbody', {}, emptyRow(columns.length, 'Loading…'));
  const table = h('table', {'aria-label': label},
    h('thead', {}, h('tr', {}, columns.map((name) => h('th', {scope: 'col'}, name)))), tbody);
  const wrapper = h('div', {class: 'table-wrap', tabindex: '0', role: 'region',
    'aria-label': `${label} (scrollable)`}, table);
  return {wrapper, table, tbody, columnCount: columns.length};
}

export function emptyRow(columnCount, text) {
  return h('tr', {'data-key': '(empty)'}, h('td', {colspan: columnCount, class: 'empty'}, text));
}

/** Fills a dataTable with `rows` (see syncRows), or with one row saying `emptyText` when there are none. */
export function fillTable(table, rows, emptyText) {
  syncRows(table.tbody, rows.length ? rows : [emptyRow(table.columnCount, emptyText)]);
}

const FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]';

/**
 * Puts freshly built rows (each with data-key) into tbody without disturbing the user: a row
 * that renders the same as before is kept as it is. When the focused row has to be replaced,
 * focus moves to the same control in its replacement (the one with the same data-key, else the
 * one at the same place in the row); when the row is gone, to the table's wrapper, not <body>.
 */
export function syncRows(tbody, rows) {
  const focused = tbody.contains(document.activeElement) ? document.activeElement : null;
  const focusedRow = focused?.closest('tr');
  const focusedKey = focused?.dataset.key;
  const focusedIndex = focusedRow ? [...focusedRow.querySelectorAll(FOCUSABLE)].indexOf(focused) : -1;

  const previous = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
  const wanted = rows.map((row) => {
    const old = previous.get(row.dataset.key);
    previous.delete(row.dataset.key);
    if (!old) return row;
    if (old.isEqualNode(row)) return old;
    old.replaceWith(row); // in place, so that the rows after it need not move
    return row;
  });
  for (const gone of previous.values()) gone.remove();
  // Insert new rows and move only rows that are out of place: moving a node blurs it.
  wanted.forEach((row, index) => {
    if (tbody.rows[index] !== row) tbody.insertBefore(row, tbody.rows[index] ?? null);
  });

  if (!focused || document.activeElement === focused) return;
  if (focused.isConnected) {
    focused.focus();
    return;
  }
  const row = [...tbody.rows].find((r) => r.dataset.key === focusedRow.dataset.key);
  const controls = row ? [...row.querySelectorAll(FOCUSABLE)] : [];
  const control = (focusedKey && controls.find((el) => el.dataset.key === focusedKey)) ?? controls[focusedIndex];
  (control ?? tbody.closest('.table-wrap')).focus();
}
