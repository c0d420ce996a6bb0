// The overview's "Task outcomes" chart: finished executions per minute, stacked bars with the
// failed part on top and hatched, so it reads without colour too.

import {svg, clockTime} from './dom.js';

const HEIGHT = 200;
const PLOT = {left: 44, right: 8, top: 14, bottom: 34};
const MINUTE = 60_000;

/** Counts finished executions by the minute they started in, oldest minute first. */
export function bucketOutcomes(events, now, minutes) {
  const buckets = Array.from({length: minutes}, () => ({succeeded: 0, failed: 0}));
  const start = now - minutes * MINUTE;
  for (const event of events) {
    if (!event.complete_time_ms) continue; // still running: no outcome yet
    const index = Math.floor((event.start_time_ms - start) / MINUTE);
    if (index >= 0 && index < minutes) buckets[index][event.success ? 'succeeded' : 'failed'] += 1;
  }
  return buckets;
}

/** The smallest "round" even number ≥ n, so the axis' middle line is a whole number too. */
function axisMax(n) {
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(n, 1)));
  for (const factor of [1, 2, 4, 5, 6, 8, 10]) {
    const candidate = factor * magnitude;
    if (candidate >= n && candidate % 2 === 0) return candidate;
  }
  return 2 * Math.ceil(n / 2);
}

/**
 * Drawn at the size it is shown (`width` in CSS pixels) rather than scaled, so its text stays
 * legible on a phone; the overview redraws it when the width (or a bar) changes.
 */
export function outcomesChart(buckets, {now, label, width}) {
  const WIDTH = Math.max(280, Math.round(width));
  const max = axisMax(Math.max(2, ...buckets.map((b) => b.succeeded + b.failed)));
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const y = (count) => PLOT.top + plotHeight - (count / max) * plotHeight;
  const slot = plotWidth / buckets.length;

  const hatch = svg('defs', {},
    svg('pattern', {id: 'failed-hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse',
      patternTransform: 'rotate(45)'},
    svg('rect', {class: 'hatch-fill', width: 6, height: 6}),
    svg('line', {class: 'hatch-line', x1: 0, y1: 0, x2: 0, y2: 6})));

  const gridLines = [0, max / 2, max].map((value) => svg('g', {},
    svg('line', {class: 'chart-grid', x1: PLOT.left, x2: WIDTH - PLOT.right, y1: y(value), y2: y(value)}),
    svg('text', {class: 'chart-axis', x: PLOT.left - 6, y: y(value) + 4, 'text-anchor': 'end'}, value)));

  const bars = buckets.map((bucket, index) => {
    const x = PLOT.left + index * slot + 1;
    const width = Math.max(1, slot - 2);
    const total = bucket.succeeded + bucket.failed;
    const minute = clockTime(new Date(now - (buckets.length - index) * MINUTE)).slice(0, 5);
    return svg('g', {},
      svg('title', {}, `${minute}: ${bucket.succeeded} succeeded, ${bucket.failed} failed`),
      // An invisible full-height target so the tooltip works on empty minutes too.
      svg('rect', {class: 'chart-hit', x, width, y: PLOT.top, height: plotHeight}),
      bucket.succeeded > 0 && svg('rect', {class: 'chart-succeeded', x, width,
        y: y(bucket.succeeded), height: y(0) - y(bucket.succeeded)}),
      bucket.failed > 0 && svg('rect', {class: 'chart-failed', x, width,
        y: y(total), height: y(bucket.succeeded) - y(total)}));
  });

  const baseline = HEIGHT - 8;
  const timeLabels = [
    svg('text', {class: 'chart-axis', x: PLOT.left, y: baseline}, `${buckets.length} min ago`),
    svg('text', {class: 'chart-axis', x: PLOT.left + plotWidth / 2, y: baseline, 'text-anchor': 'middle'},
      `${buckets.length / 2} min ago`),
    svg('text', {class: 'chart-axis', x: WIDTH - PLOT.right, y: baseline, 'text-anchor': 'end'}, 'now'),
  ];

  return svg('svg', {class: 'chart', role: 'img', 'aria-label': label,
    width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`},
  hatch, gridLines, bars, timeLabels);
}
