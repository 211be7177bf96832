// Rescaling in place: the deployment page's "Parallelism" item. Shows the parallelism each vertex of the
// running job runs at, as Flink last confirmed it after an in-place rescale (job annotation
// stateplane.io/vertex-parallelism, vertex id -> parallelism), else the job's parallelism; and the
// template's when a change is still on its way.
'use strict';

window.rescaleParallelism = function rescaleParallelism(h, job, template) {
  const wanted = template.parallelism || 1;
  if (!job) return String(wanted);
  const ann = job.metadata.annotations || {};
  let perVertex = null;
  try {
    perVertex = ann['stateplane.io/vertex-parallelism'] ? JSON.parse(ann['stateplane.io/vertex-parallelism']) : null;
  } catch (_) {
    perVertex = null;
  }
  const runs = job.spec.parallelism || 1;
  const parts = [];
  if (perVertex && typeof perVertex === 'object') {
    parts.push(h('span', {}, `${runs} · per vertex: `));
    Object.keys(perVertex).sort().forEach((v, i) => {
      if (i > 0) parts.push(', ');
      parts.push(h('span', {class: 'mono', title: `vertex ${v}`}, `${v.slice(0, 8)}=${perVertex[v]}`));
    });
  } else {
    parts.push(h('span', {}, String(runs)));
  }
  if (wanted !== runs) parts.push(h('span', {class: 'sub'}, ` → ${wanted} (changing)`));
  return parts;
};
