// stateplane web UI. Renders every page from the public /api/v1 API (one fetch helper below) and
// refreshes it every few seconds. No framework, no build step: plain DOM calls, text set with
// textContent only (never innerHTML), so nothing a resource holds can run as markup.
'use strict';

const API = '/api/v1';
const SPEC_VERSION = 'com.dataartisans.appmanager.controller.deployment.spec.version';
const REFRESH_MS = 2000;

// ---- small helpers ------------------------------------------------------------------------------

/** Creates an element: h('td', {class: 'x', onclick: f}, 'text', child, ...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);
const short = (id) => (id ? String(id).slice(0, 8) : '');
const pill = (state, extra) => h('span', {class: `pill ${state || ''} ${extra || ''}`}, state || '—');

function pad(n) { return String(n).padStart(2, '0'); }
function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
function timeCell(iso) {
  return h('td', {class: 'nowrap', title: iso || ''}, fmtTime(iso), h('span', {class: 'sub'}, ago(iso)));
}

// ---- the API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status, code) { super(message); this.status = status; this.code = code; }
}

/** The one way this UI talks to the server: the public API. With access control on, the session
 *  cookie set by the login page carries the token (HttpOnly: this script never sees it). */
async function call(method, path, body) {
  const headers = {Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(API + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new ApiError(`cannot reach the stateplane server (${e.message})`, 0, 'UNREACHABLE');
  }
  let data = null;
  try { data = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    if (resp.status === 401) toLogin();
    const msg = data && data.message
      ? data.message + (data.field ? ` (${data.field})` : '')
      : `${method} ${path}: ${resp.status} ${resp.statusText}`;
    throw new ApiError(msg, resp.status, data && data.code);
  }
  return data;
}
const api = {
  get: (p) => call('GET', p),
  post: (p, b) => call('POST', p, b),
  patch: (p, b) => call('PATCH', p, b),
  del: (p) => call('DELETE', p),
};

/** The session expired or the token was deleted: back to the login page, then here again. */
function toLogin() {
  location.href = '/ui/login?next=' + encodeURIComponent(location.pathname + location.search);
}

// ---- page state, routing, banners ---------------------------------------------------------------

const page = {ns: 'default', deployment: null, timer: null};
const nsPath = (p) => `/namespaces/${encodeURIComponent(page.ns)}${p}`;
const uiPath = (p) => `/ui/namespaces/${encodeURIComponent(page.ns)}${p}`;

function showError(message) {
  $('#error-text').textContent = message;
  $('#error').hidden = false;
}
function clearError() { $('#error').hidden = true; }
let noticeTimer = null;
function notice(message) {
  const n = $('#notice');
  n.textContent = message;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, 6000);
}

function crumbs(...items) {
  const nav = $('#crumbs');
  nav.replaceChildren();
  items.forEach((it, i) => {
    if (i > 0) nav.append(h('span', {class: 'sep'}, '/'));
    nav.append(it.href ? h('a', {href: it.href}, it.text) : h('span', {}, it.text));
  });
}

async function namespacePicker() {
  const sel = $('#namespace');
  sel.replaceChildren(h('option', {value: page.ns, selected: true}, page.ns));
  sel.onchange = () => { location.href = `/ui/namespaces/${encodeURIComponent(sel.value)}/deployments`; };
  try {
    const list = await api.get('/namespaces');
    const names = list.items.map((n) => n.metadata.name);
    if (!names.includes(page.ns)) names.unshift(page.ns);
    sel.replaceChildren(...names.map((n) => h('option', {value: n, selected: n === page.ns}, n)));
  } catch (_) { /* a viewer without namespace rights still sees its own */ }
}

/** Runs `load` now and every REFRESH_MS while the tab is visible; errors go to the banner. */
function keepFresh(load) {
  let busy = false;
  const tick = async () => {
    if (busy || document.hidden) return;
    busy = true;
    try { await load(); } catch (e) { showError(e.message); } finally { busy = false; }
  };
  page.refresh = tick;
  tick();
  page.timer = setInterval(tick, REFRESH_MS);
}

/** Runs a user action: its errors show in the banner (the API's message), its success as a notice. */
async function act(button, fn) {
  if (button) button.disabled = true;
  try {
    const msg = await fn();
    clearError();
    if (msg) notice(msg);
    if (page.refresh) await page.refresh();
  } catch (e) {
    showError(e.message);
  } finally {
    if (button) button.disabled = false;
    if (page.refresh) page.refresh();
  }
}

function route() {
  const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  $('#error-close').onclick = clearError;
  for (const b of document.querySelectorAll('dialog [data-close]')) b.onclick = () => b.closest('dialog').close();
  if (parts[0] === 'ui' && parts[1] === 'namespaces' && parts[2] && parts[3] === 'deployments') {
    page.ns = parts[2];
    namespacePicker();
    if (parts[4]) return deploymentPage(parts[4]);
    return listPage();
  }
  location.replace('/ui/namespaces/default/deployments');
}

// ---- the deployments list -----------------------------------------------------------------------

function listPage() {
  document.title = `Deployments · ${page.ns} · stateplane`;
  crumbs({text: page.ns}, {text: 'Deployments'});
  const app = $('#app');
  const body = h('div', {class: 'card'});
  const orphans = h('div', {class: 'card', id: 'orphans-panel'});
  app.replaceChildren(
    h('div', {class: 'page-head'}, h('h1', {}, 'Deployments'), h('span', {class: 'muted'}, `namespace ${page.ns}`),
      h('span', {class: 'spacer'}), typeof newDeploymentButton === 'function' ? newDeploymentButton() : null),
    body, orphans,
  );
  if (typeof renderOrphans === 'function') renderOrphans(orphans);
  keepFresh(async () => {
    const [deps, jobs, sps] = await Promise.all([
      api.get(nsPath('/deployments')),
      api.get(nsPath('/jobs')),
      api.get(nsPath('/savepoints')),
    ]);
    const jobById = new Map(jobs.items.map((j) => [j.metadata.id, j]));
    const lastSp = new Map();
    for (const s of sps.items) if (!lastSp.has(s.metadata.deploymentId)) lastSp.set(s.metadata.deploymentId, s);
    if (deps.items.length === 0) {
      body.replaceChildren(h('p', {class: 'empty'}, `No deployments in namespace ${page.ns} yet. Create one with `,
        h('code', {}, 'stateplane deployment apply -f deployment.yaml'), '.'));
      return;
    }
    const rows = deps.items.map((d) => {
      const running = d.status.running;
      const job = running ? jobById.get(running.jobId) : null;
      const flink = job && job.status.started ? job.status.started.observedFlinkJobStatus : null;
      const sp = lastSp.get(d.metadata.id);
      return h('tr', {'data-deployment': d.metadata.name},
        h('td', {}, h('a', {href: uiPath(`/deployments/${d.metadata.id}`)}, h('b', {}, d.metadata.name)),
          h('span', {class: 'sub mono'}, short(d.metadata.id))),
        h('td', {}, pill(d.spec.state)),
        h('td', {}, pill(d.status.state),
          d.status.failure && d.status.state === 'FAILED' ? h('span', {class: 'sub failure'}, d.status.failure.message) : null),
        h('td', {}, running ? [h('span', {class: 'mono'}, short(running.jobId)), h('span', {class: 'sub'}, flink || '')] : h('span', {class: 'muted'}, '—')),
        sp ? h('td', {}, pill(sp.status.state), ' ', h('span', {class: 'muted'}, sp.metadata.origin),
          h('span', {class: 'sub', title: sp.metadata.createdAt}, ago(sp.metadata.createdAt)))
          : h('td', {class: 'muted'}, 'none'),
        h('td', {}, (d.metadata.annotations || {})[SPEC_VERSION] || '—'),
        timeCell(d.metadata.createdAt),
      );
    });
    body.replaceChildren(h('div', {class: 'table-wrap'}, h('table', {id: 'deployments'},
      h('thead', {}, h('tr', {}, ['Name', 'Desired', 'Status', 'Running job', 'Last savepoint', 'Spec version', 'Created'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows))));
  });
}

// ---- one deployment -----------------------------------------------------------------------------

const TABS = ['snapshots', 'jobs', 'events'];
const rendered = new Map();
/** Whether `value` differs from what part `key` last showed (and remembers it). */
function changed(key, value) {
  const s = JSON.stringify(value);
  if (rendered.get(key) === s) return false;
  rendered.set(key, s);
  return true;
}

function deploymentPage(idOrName) {
  const app = $('#app');
  const head = h('div', {class: 'page-head'});
  const overview = h('div', {class: 'card'});
  const tabButtons = TABS.map((t) => h('button', {type: 'button', role: 'tab', id: `tab-button-${t}`, 'aria-controls': `tab-${t}`,
    onclick: () => { history.replaceState(null, '', `#${t}`); selectTab(t); }}, t[0].toUpperCase() + t.slice(1), h('span', {class: 'count'}, '')));
  const panels = TABS.map((t) => h('section', {role: 'tabpanel', id: `tab-${t}`, 'aria-labelledby': `tab-button-${t}`}));
  app.replaceChildren(head, overview, h('div', {class: 'card'}, h('nav', {class: 'tabs', role: 'tablist'}, tabButtons), panels));

  const selectTab = (t) => {
    if (!TABS.includes(t)) t = 'snapshots';
    tabButtons.forEach((b, i) => b.setAttribute('aria-selected', String(TABS[i] === t)));
    panels.forEach((p, i) => { p.hidden = TABS[i] !== t; });
  };
  selectTab(location.hash.slice(1));
  window.addEventListener('hashchange', () => selectTab(location.hash.slice(1)));

  // Static parts of the snapshots tab (kept across refreshes).
  const spTools = h('div', {class: 'tab-tools'});
  const spTable = h('div', {class: 'table-wrap'});
  const spSummary = h('div', {id: 'snapshot-summary'});
  panels[0].append(spTools, spTable, spSummary);

  keepFresh(async () => {
    const d = await api.get(nsPath(`/deployments/${encodeURIComponent(idOrName)}`));
    const id = d.metadata.id;
    const q = `?deploymentId=${encodeURIComponent(id)}`;
    const [sps, preview, jobs, events] = await Promise.all([
      api.get(nsPath(`/savepoints${q}`)),
      api.get(nsPath(`/deployments/${id}/restore-preview`)),
      api.get(nsPath(`/jobs${q}`)),
      api.get(nsPath(`/events${q}`)),
    ]);
    page.deployment = d;
    document.title = `${d.metadata.name} · stateplane`;
    crumbs({text: page.ns}, {text: 'Deployments', href: uiPath('/deployments')}, {text: d.metadata.name});
    // Re-render only what changed (and relative times twice a minute), so that the page does not
    // flicker and an element someone is about to click stays the same element.
    const tick = Math.floor(Date.now() / 30000);
    if (changed('head', d)) renderHead(head, d);
    if (changed('overview', [d, preview, jobs.items, tick])) renderOverview(overview, d, preview, jobs.items);
    if (changed('snapshots', [d, sps.items, preview, tick])) renderSnapshots(spTools, spTable, d, sps.items, preview);
    if (typeof renderSnapshotSummary === 'function') await renderSnapshotSummary(spSummary, id);
    if (changed('jobs', [jobs.items, tick])) renderJobs(panels[1], jobs.items);
    if (changed('events', [events.items, tick])) renderEvents(panels[2], events.items);
    const counts = [sps.items.length, jobs.items.length, events.items.length];
    tabButtons.forEach((b, i) => { b.querySelector('.count').textContent = counts[i]; });
  });
}

function renderHead(head, d) {
  const desired = d.spec.state;
  const status = d.status.state;
  const patchState = (state, what) => act(null, async () => {
    await api.patch(nsPath(`/deployments/${d.metadata.id}`), {spec: {state}});
    return `${d.metadata.name}: ${what}`;
  });
  const button = (id, label, enabled, title, onclick, cls) =>
    h('button', {type: 'button', id, class: cls || '', disabled: !enabled, title, onclick}, label);
  const resumeLabel = desired === 'CANCELLED' ? 'Start' : 'Resume';
  head.replaceChildren(
    h('h1', {}, d.metadata.name),
    h('span', {}, pill(desired), h('span', {class: 'arrow', title: 'desired → actual'}, '→'), pill(status)),
    h('span', {class: 'spacer'}),
    h('div', {class: 'actions'},
      typeof editDeploymentButton === 'function' ? editDeploymentButton(d) : null,
      button('action-savepoint', 'Take savepoint', status === 'RUNNING', 'Take a savepoint of the running job now',
        (ev) => act(ev.currentTarget, async () => {
          const sp = await api.post(nsPath('/savepoints'), {metadata: {deploymentId: d.metadata.id}});
          return `Savepoint ${short(sp.metadata.id)} requested (${sp.status.state})`;
        }), 'primary'),
      button('action-suspend', 'Suspend', desired === 'RUNNING', 'Stop the job with a savepoint',
        () => patchState('SUSPENDED', 'suspending (stop with savepoint)')),
      button('action-resume', resumeLabel, desired !== 'RUNNING', 'Start the job, restoring per the restore strategy',
        () => patchState('RUNNING', 'starting')),
      button('action-cancel', 'Cancel', desired !== 'CANCELLED', 'Stop the job without a savepoint', async () => {
        const text = `${d.metadata.name} stops without a savepoint. A retained checkpoint, if the job keeps one, is recorded.`;
        if (await confirmDialog('Cancel deployment?', text, 'Cancel deployment')) patchState('CANCELLED', 'cancelling');
      }, 'danger'),
    ),
  );
}

function renderOverview(card, d, preview, jobs) {
  const ann = d.metadata.annotations || {};
  const t = d.spec.template.spec;
  const cfg = t.flinkConfiguration || {};
  const running = d.status.running;
  const job = running ? jobs.find((j) => j.metadata.id === running.jobId) : null;
  const flink = job && job.status.started ? job.status.started.observedFlinkJobStatus : null;
  const item = (label, value, cls) => h('div', {class: cls || ''}, h('dt', {}, label), h('dd', {}, value));
  const next = preview.savepointId
    ? [h('span', {class: 'mono'}, short(preview.savepointId)), ' ', h('span', {class: 'muted mono'}, preview.savepointLocation || '')]
    : h('span', {class: 'muted'}, preview.startRefused ? 'nothing — the start is refused (requireState)' : 'nothing — starts without state');
  const items = [
    item('Desired state', pill(d.spec.state)),
    item('Status', pill(d.status.state)),
    item('Running job', running ? [h('span', {class: 'mono'}, short(running.jobId)), flink ? ` · Flink ${flink}` : ''] : '—'),
    item('Spec version', ann[SPEC_VERSION] || '—'),
    item('Upgrade strategy', d.spec.upgradeStrategy.kind),
    item('Restore strategy', d.spec.restoreStrategy.kind + (d.spec.restoreStrategy.allowNonRestoredState ? ' · allow non-restored state' : '')),
    item('Deployment target', d.spec.deploymentTargetName || '—'),
    item('Parallelism', window.rescaleParallelism ? window.rescaleParallelism(h, job, t) : (t.parallelism || 1)),
    item('Next start restores from', next, 'wide'),
    item('Savepoint directory', h('span', {class: 'mono'}, cfg['execution.checkpointing.savepoint-dir'] || cfg['state.savepoints.dir'] || 'from blob storage, if configured'), 'wide'),
    t.artifact.kind === 'SQLSCRIPT'
      ? item('Artifact', sqlArtifact(t.artifact), 'full')
      : item('Artifact', h('span', {class: 'mono'}, t.artifact.jarUri + (t.artifact.entryClass ? ` · ${t.artifact.entryClass}` : '')), 'wide'),
    item('Created', `${fmtTime(d.metadata.createdAt)} (${ago(d.metadata.createdAt)})`),
    item('Id', h('span', {class: 'mono'}, d.metadata.id)),
  ];
  if (d.status.failure) items.push(item('Failure', h('span', {class: 'failure'}, `${d.status.failure.reason}: ${d.status.failure.message}`), 'full'));
  const conditions = window.deploymentConditions ? deploymentConditions(d) : null;
  if (conditions) items.push(item('Conditions', conditions, 'full'));
  card.replaceChildren(h('h2', {}, 'Overview'), h('dl', {class: 'overview'}, items));
}

function renderSnapshots(tools, wrap, d, savepoints, preview) {
  const skipped = new Map((preview.skipped || []).map((s) => [s.savepointId, s.reason]));
  if (!tools.firstChild) {
    tools.append(
      h('span', {id: 'restore-strategy'}),
      h('span', {class: 'spacer'}),
      h('button', {type: 'button', id: 'action-add-savepoint', onclick: () => openAddSavepoint()}, 'Add savepoint'),
    );
  }
  tools.querySelector('#restore-strategy').textContent =
    `Restore strategy ${preview.strategy}: ${preview.savepointId ? 'the next start restores from the marked snapshot.' : preview.reason}`;
  if (savepoints.length === 0) {
    wrap.replaceChildren(h('p', {class: 'empty'}, 'No savepoints yet. Take one, suspend the deployment, or add an existing snapshot.'));
    return;
  }
  const rows = savepoints.map((s) => {
    const isNext = preview.savepointId === s.metadata.id;
    const ann = s.metadata.annotations || {};
    const restoreCell = isNext
      ? h('td', {class: 'restore'}, h('span', {class: 'badge-next'}, 'next start restores from here'), h('span', {class: 'why'}, preview.reason))
      : h('td', {class: 'restore'}, h('span', {class: 'skip'}, skipped.has(s.metadata.id) ? `skipped: ${skipped.get(s.metadata.id)}` : ''));
    const canFork = s.status.state === 'COMPLETED' && s.spec.savepointLocation;
    const canDelete = !['STARTED', 'PENDING_DELETION', 'DELETING'].includes(s.status.state);
    return h('tr', {'data-savepoint-id': s.metadata.id, 'data-state': s.status.state, 'data-origin': s.metadata.origin,
      'data-next-restore': isNext ? 'true' : null},
      h('td', {class: 'nowrap'}, h('span', {class: 'mono', title: s.metadata.id}, short(s.metadata.id)),
        h('span', {class: 'sub'}, s.metadata.origin)),
      h('td', {}, pill(s.status.state), s.status.failure ? h('span', {class: 'sub failure'}, s.status.failure.message) : null),
      timeCell(s.metadata.createdAt),
      h('td', {class: 'loc'}, s.spec.savepointLocation || '—'),
      h('td', {}, ann[SPEC_VERSION] || h('span', {class: 'muted', title: 'no spec-version annotation: never restored'}, 'none')),
      h('td', {class: 'mono', title: s.metadata.jobId || ''}, s.metadata.jobId ? short(s.metadata.jobId) : '—'),
      restoreCell,
      h('td', {class: 'row-actions'},
        h('button', {type: 'button', class: 'small', 'data-action': 'fork', disabled: !canFork,
          title: 'Create a new deployment that starts from this snapshot', onclick: () => openFork(s)}, 'Fork'),
        h('button', {type: 'button', class: 'small danger', 'data-action': 'delete', disabled: !canDelete,
          onclick: (ev) => deleteSavepoint(ev.currentTarget, s)}, 'Delete')),
    );
  });
  wrap.replaceChildren(h('table', {id: 'snapshots'},
    h('thead', {}, h('tr', {}, ['Snapshot', 'State', 'Created', 'Location', 'Spec', 'Job', 'Restore', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows)));
}

function renderJobs(panel, jobs) {
  if (jobs.length === 0) { panel.replaceChildren(h('p', {class: 'empty'}, 'No jobs yet: a job is created when the deployment starts.')); return; }
  const rows = jobs.map((j) => {
    const started = j.status.started;
    return h('tr', {'data-job-id': j.metadata.id},
      h('td', {class: 'mono', title: j.metadata.id}, short(j.metadata.id)),
      h('td', {}, pill(j.status.state, 'job'), j.status.failure ? h('span', {class: 'sub failure'}, j.status.failure.message) : null),
      h('td', {}, started && started.observedFlinkJobStatus ? started.observedFlinkJobStatus : '—',
        started ? h('span', {class: 'sub mono'}, started.flinkJobId) : null),
      h('td', {}, (j.metadata.annotations || {})[SPEC_VERSION] || '—'),
      timeCell(started ? started.startedAt : j.metadata.createdAt),
      j.metadata.terminatedAt ? timeCell(j.metadata.terminatedAt) : h('td', {class: 'muted'}, '—'),
      h('td', {class: 'loc'}, j.spec.savepointLocation || h('span', {class: 'muted'}, 'no state')),
    );
  });
  panel.replaceChildren(h('div', {class: 'table-wrap'}, h('table', {id: 'jobs'},
    h('thead', {}, h('tr', {}, ['Id', 'State', 'Flink', 'Spec version', 'Started', 'Ended', 'Restored from'].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows))));
}

function renderEvents(panel, events) {
  if (events.length === 0) { panel.replaceChildren(h('p', {class: 'empty'}, 'No events yet.')); return; }
  const rows = events.slice().reverse().slice(0, 300).map((e) => h('tr', {},
    timeCell(e.metadata.createdAt),
    h('td', {class: 'mono'}, e.metadata.name),
    h('td', {}, e.spec.message)));
  panel.replaceChildren(h('div', {class: 'table-wrap'}, h('table', {id: 'events'},
    h('thead', {}, h('tr', {}, ['Time', 'Event', 'Message'].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows))));
}

// ---- dialogs and actions ------------------------------------------------------------------------

function formError(form, message) {
  const p = form.querySelector('.form-error');
  p.textContent = message || '';
  p.hidden = !message;
}

/** The body of Ververica's "manually adding a savepoint resource". */
function registerBody(deploymentId, location, specVersion, flinkSavepointId) {
  return {
    metadata: {deploymentId, annotations: {[SPEC_VERSION]: String(specVersion)}},
    spec: {savepointLocation: location, flinkSavepointId: flinkSavepointId || '00000000-0000-0000-0000-000000000000'},
    status: {state: 'COMPLETED'},
  };
}

function openAddSavepoint() {
  const d = page.deployment;
  const dialog = $('#add-savepoint-dialog');
  const form = $('#add-savepoint-form');
  form.reset();
  formError(form, '');
  $('#add-savepoint-spec-version').value = (d.metadata.annotations || {})[SPEC_VERSION] || '1';
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const location = $('#add-savepoint-location').value.trim();
    const version = $('#add-savepoint-spec-version').value.trim();
    try {
      const sp = await api.post(nsPath('/savepoints'), registerBody(d.metadata.id, location, version));
      dialog.close();
      clearError();
      notice(`Savepoint ${short(sp.metadata.id)} added (COPIED, spec version ${version})`);
      page.refresh();
    } catch (e) { formError(form, e.message); }
  };
  dialog.showModal();
}

/** A COPIED savepoint of `target` at `sp`'s location: the copy endpoint if the server has it. */
async function copySavepoint(sp, target) {
  try {
    return await api.post(nsPath(`/savepoints/${sp.metadata.id}/copy`), {metadata: {deploymentId: target.metadata.id}});
  } catch (e) {
    if (e.code !== 'ROUTE_NOT_FOUND' && e.code !== 'METHOD_NOT_ALLOWED') throw e;
  }
  const version = (target.metadata.annotations || {})[SPEC_VERSION] || '1';
  return api.post(nsPath('/savepoints'), registerBody(target.metadata.id, sp.spec.savepointLocation, version, sp.spec.flinkSavepointId));
}

function openFork(sp) {
  const d = page.deployment;
  const dialog = $('#fork-dialog');
  const form = $('#fork-form');
  form.reset();
  formError(form, '');
  $('#fork-what').textContent = `Creates a new deployment with ${d.metadata.name}'s spec (state CANCELLED) and a COPIED `
    + `savepoint at ${sp.spec.savepointLocation}. Start it to restore from that snapshot.`;
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const name = $('#fork-name').value.trim();
    try {
      const spec = JSON.parse(JSON.stringify(d.spec));
      spec.state = 'CANCELLED';
      const annotations = Object.assign({}, d.metadata.annotations || {});
      delete annotations[SPEC_VERSION];
      const created = await api.post(nsPath('/deployments'), {metadata: {name, labels: d.metadata.labels || {}, annotations}, spec});
      try {
        await copySavepoint(sp, created);
      } catch (e) {
        try { await api.del(nsPath(`/deployments/${created.metadata.id}`)); } catch (_) { /* best effort */ }
        throw e;
      }
      location.href = uiPath(`/deployments/${created.metadata.id}#snapshots`);
    } catch (e) { formError(form, e.message); }
  };
  dialog.showModal();
}

function confirmDialog(title, text, yes) {
  const dialog = $('#confirm-dialog');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-yes').textContent = yes;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), {once: true});
  });
}

async function deleteSavepoint(button, sp) {
  const ok = await confirmDialog('Delete savepoint?', `Savepoint ${sp.metadata.id} (${sp.metadata.origin}) at `
    + `${sp.spec.savepointLocation || 'no location'}. Its data is disposed only if stateplane wrote it and no other `
    + 'savepoint points to it.', 'Delete savepoint');
  if (!ok) return;
  act(button, async () => {
    await api.del(nsPath(`/savepoints/${sp.metadata.id}`));
    return `Savepoint ${short(sp.metadata.id)} deleted`;
  });
}

document.addEventListener('DOMContentLoaded', route);
