// The running job's conditions (status.running.conditions, Ververica's shape) on the deployment page:
// one line per condition, its status as a pill, its reason and message, and since when it holds.
// Uses app.js's `h`, `pill` and `fmtTime`.
'use strict';

function deploymentConditions(d) {
  const conditions = (d.status.running && d.status.running.conditions) || [];
  if (conditions.length === 0) return null;
  return h('ul', {class: 'conditions', id: 'conditions'}, conditions.map((c) =>
    h('li', {class: `condition condition-${String(c.status).toLowerCase()}`},
      h('span', {class: 'mono'}, c.type), ' ', pill(c.status), ' ',
      c.reason ? h('span', {class: 'muted'}, `${c.reason}: `) : null,
      c.message || '',
      c.lastTransitionTime ? h('span', {class: 'muted'}, ` · since ${fmtTime(c.lastTransitionTime)}`) : null)));
}
