'use strict';
// The Snapshots tab's summary: what the newest snapshot holds (total size, operators, each operator's
// state) and a small chart of snapshot size and duration over time, from
// GET /deployments/{id}/snapshots (summaries the controller read from each savepoint's _metadata).
// Uses app.js's helpers (h, api, nsPath, short); app.js calls renderSnapshotSummary on each refresh.

const SVG_NS = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c != null) el.append(c);
  return el;
}

function formatBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** A line chart of `values` (oldest first) in a 320×80 box, with its label and the newest value. */
function sparkline(id, label, values, format) {
  const w = 320, hgt = 80, pad = 6;
  const pts = values.filter((v) => v.y != null);
  const svg = svgEl('svg', {id, class: 'chart', viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: 'img',
    'aria-label': `${label} over time`});
  if (pts.length === 0) return h('figure', {class: 'chart-box'}, svg, h('figcaption', {}, `${label}: no data`));
  const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const y1 = Math.max(...ys, 1);
  const sx = (x) => (x1 === x0 ? w / 2 : pad + ((x - x0) / (x1 - x0)) * (w - 2 * pad));
  const sy = (y) => hgt - pad - (y / y1) * (hgt - 2 * pad);
  svg.append(svgEl('polyline', {fill: 'none', stroke: 'currentColor', 'stroke-width': 2,
    points: pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}));
  for (const p of pts) {
    svg.append(svgEl('circle', {cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: 3, fill: 'currentColor'},
      svgEl('title', {}, `${new Date(p.x).toISOString()}: ${format(p.y)}`)));
  }
  const newest = pts[pts.length - 1].y;
  return h('figure', {class: 'chart-box'}, svg,
    h('figcaption', {}, `${label}: ${format(newest)} now, at most ${format(Math.max(...ys))}`));
}

/** Renders the summary of `deploymentId`'s snapshots into `box`. */
async function renderSnapshotSummary(box, deploymentId) {
  const list = await api.get(nsPath(`/deployments/${deploymentId}/snapshots?limit=50`));
  const key = JSON.stringify(list.map((s) => [s.savepointId, s.summary.total.total]));
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  if (list.length === 0) {
    box.replaceChildren(h('p', {class: 'empty'}, 'No snapshot summaries yet: each completed savepoint is read once it completes.'));
    return;
  }
  const newest = list[0];
  const ops = newest.summary.operators;
  const oldestFirst = list.slice().reverse();
  const time = (s) => Date.parse(s.savepointCreatedAt);
  box.replaceChildren(
    h('div', {class: 'snapshot-facts'},
      h('span', {id: 'snapshot-total'}, `Newest snapshot ${short(newest.savepointId)}: ${formatBytes(newest.summary.total.total)} of state`),
      h('span', {id: 'snapshot-operators'}, `${ops.length} operator(s)`),
      h('span', {}, `format v${newest.summary.formatVersion}, checkpoint ${newest.summary.checkpointId}`)),
    h('div', {class: 'charts'},
      sparkline('chart-size', 'Size', oldestFirst.map((s) => ({x: time(s), y: s.summary.total.total})), formatBytes),
      sparkline('chart-duration', 'Duration', oldestFirst.map((s) => ({x: time(s), y: s.durationMs ?? null})), (v) => `${v} ms`)),
    h('div', {class: 'table-wrap'}, h('table', {id: 'snapshot-operators-table'},
      h('thead', {}, h('tr', {}, ['Operator id', 'Uid / name', 'Parallelism', 'Max parallelism', 'Keyed', 'Operator', 'Coordinator', 'Total']
        .map((t) => h('th', {}, t)))),
      h('tbody', {}, ops.map((o) => h('tr', {'data-operator-id': o.operatorId},
        h('td', {class: 'mono'}, o.operatorId),
        h('td', {}, o.uid || o.name || '—'),
        h('td', {}, String(o.parallelism)),
        h('td', {}, String(o.maxParallelism)),
        h('td', {}, formatBytes(o.state.keyed)),
        h('td', {}, formatBytes(o.state.operator)),
        h('td', {}, formatBytes(o.state.coordinator)),
        h('td', {}, formatBytes(o.state.total + o.state.coordinator)))))))),
  );
}
