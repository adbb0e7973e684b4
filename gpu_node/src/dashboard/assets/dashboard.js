// StratoSwarm dashboard: tables and a chart fed by serve's event stream
// (/api/events, docs/dashboard.md). Plain JS; uPlot draws the chart.
'use strict';

const MAX_EVENTS = 1000;  // points kept in the chart
const LISTED_EVENTS = 25; // rows in the recent-events table

// Chart series: timing events by their event name (docs/timing_log.md).
const SERIES = [
  { label: 'join', match: e => e.event === 'join' || e.event === 'mesh', color: '#2f6fdb' },
  { label: 'failure detection', match: e => e.event === 'failure_detection', color: '#c22' },
  { label: 'recovery / migration', match: e => e.event === 'recovery' || e.event === 'migration', color: '#8a3ffc' },
  { label: 'deploy / images', match: e => e.event === 'deploy' || e.event === 'image', color: '#18794e' },
  { label: 'other', match: () => true, color: '#888' },
];

const $ = id => document.getElementById(id);
let events = [];
let chart = null;
let redrawQueued = false;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fill(tableId, rows, empty, cells) {
  const body = $(tableId).tBodies[0];
  const out = [];
  for (const r of rows) {
    const tr = el('tr');
    cells(r, tr);
    out.push(tr);
  }
  if (out.length === 0) {
    const tr = el('tr', undefined, 'empty');
    const td = el('td', empty);
    td.colSpan = $(tableId).tHead.rows[0].cells.length;
    tr.append(td);
    out.push(tr);
  }
  body.replaceChildren(...out);
}

function statusCell(status) { return el('td', status, 'status status-' + status); }

function mib(mb) { return mb >= 1024 ? (mb / 1024).toFixed(1) + ' GiB' : mb + ' MiB'; }
function bytes(b) { return b <= 0 ? '-' : b < 1048576 ? Math.ceil(b / 1024) + ' KiB' : mib(Math.round(b / 1048576)); }

function showNodes(nodes) {
  $('nodes-count').textContent = '(' + nodes.length + ')';
  fill('nodes', nodes, 'no nodes', (n, tr) => {
    tr.dataset.node = n.name;
    tr.dataset.status = n.status;
    const conditions = (n.conditions || []).join('; ') || '-';
    tr.append(el('td', n.name), statusCell(n.status), el('td', n.type), el('td', n.arch),
              el('td', n.cores + ' cores'), el('td', mib(n.memory_mb)), el('td', conditions, 'wrap'),
              el('td', n.joined));
  });
}

function showWorkloads(workloads) {
  $('workloads-count').textContent = '(' + workloads.length + ')';
  fill('workloads', workloads, 'no workloads', (w, tr) => {
    tr.dataset.workload = w.id;
    tr.dataset.status = w.status;
    const status = statusCell(w.status);
    if (w.detail) status.title = w.detail;
    const what = w.image ? w.image + (w.command.length ? ' ' + w.command.join(' ') : '') : w.command.join(' ');
    tr.append(el('td', w.id.slice(0, 12)), el('td', w.name), el('td', w.node || '-'), status,
              el('td', what, 'wrap'), el('td', w.status === 'Running' ? w.cpu_percent.toFixed(1) : '-'),
              el('td', w.status === 'Running' ? bytes(w.memory_bytes) : '-'), el('td', w.restarts));
  });
}

function timeOf(t) { return new Date(t * 1000).toLocaleTimeString(); }

function details(extra) {
  return Object.entries(extra).map(([k, v]) => k + '=' + v).join(' ');
}

function showEvents() {
  const recent = events.slice(-LISTED_EVENTS).reverse();
  fill('events', recent, 'no events yet', (e, tr) => {
    tr.dataset.key = e.key;
    tr.append(el('td', timeOf(e.t)), el('td', e.node), el('td', e.key), el('td', e.ms.toFixed(1)),
              el('td', details(e.extra), 'wrap'));
  });
}

// uPlot wants one x array and one y array per series: each event is its own
// x, with its value in its series and null in the others.
function chartData() {
  const plotted = events.filter(e => e.ms > 0);
  const data = [plotted.map(e => e.t)];
  for (const s of SERIES) data.push(plotted.map(() => null));
  plotted.forEach((e, i) => { data[1 + SERIES.findIndex(s => s.match(e))][i] = e.ms; });
  return data;
}

function makeChart() {
  const width = Math.max(320, $('chart').clientWidth || 800);
  const opts = {
    width, height: 260,
    scales: { x: { time: true }, y: { distr: 3 } },
    axes: [{}, { label: 'ms', size: 60 }],
    series: [{ label: 'time', value: (u, t) => t == null ? '-' : timeOf(t) }].concat(SERIES.map(s => ({
      label: s.label, stroke: s.color, fill: s.color, paths: () => null,
      points: { show: true, size: 7, fill: s.color },
      value: (u, v) => v == null ? '-' : v.toFixed(1) + ' ms',
    }))),
  };
  chart = new uPlot(opts, chartData(), $('chart'));
  window.addEventListener('resize', () => chart.setSize({ width: $('chart').clientWidth, height: 260 }));
}

function redraw() {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    showEvents();
    if (chart) chart.setData(chartData());
  });
}

function connect() {
  const es = new EventSource('api/events');
  const conn = $('conn');
  es.onopen = () => { conn.textContent = 'live'; conn.className = 'conn conn-live'; };
  es.onerror = () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn conn-wait';
    // The browser retries by itself, except after an HTTP error (e.g. 503:
    // too many open streams); then we do, a little later.
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
  };
  // Every (re)connection starts with the buffered history: drop ours.
  es.addEventListener('hello', () => { events = []; redraw(); });
  es.addEventListener('nodes', m => showNodes(JSON.parse(m.data)));
  es.addEventListener('workloads', m => showWorkloads(JSON.parse(m.data)));
  es.addEventListener('timing', m => {
    events.push(JSON.parse(m.data));
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
    redraw();
  });
}

if (typeof uPlot === 'function') makeChart();
connect();
