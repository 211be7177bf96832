'use strict';
// The namespace's orphan report on the deployments page: snapshot directories under stateplane's
// storage prefixes that nothing references (GET /storage/orphans), each with a Dispose button
// (POST /storage/orphans:dispose, after a confirmation). Listed when asked (a button), never on the
// page's refresh timer: the report walks storage. Needs an owner token; others see the server's
// answer. Uses app.js's helpers (h, api, nsPath, confirmDialog, showError, clearError, notice, ago).

function orphanSize(n) {
  return typeof formatBytes === 'function' ? formatBytes(n) : `${n} B`;
}

function renderOrphans(panel) {
  const out = h('div', {id: 'orphans'});
  const list = h('button', {type: 'button', class: 'secondary', id: 'orphans-load'}, 'List orphaned snapshot data');
  panel.replaceChildren(
    h('h2', {}, 'Orphaned snapshot data'),
    h('p', {class: 'hint'}, 'Savepoint and checkpoint directories under stateplane\'s storage prefixes of this '
      + 'namespace that no savepoint resource references (left by a deployment deleted with its data kept, '
      + 'or by hand). Nothing is deleted unless you ask.'),
    list, out);

  async function dispose(button, o) {
    const ok = await confirmDialog('Dispose of orphaned data?', `Deletes ${o.location} (${orphanSize(o.sizeBytes)}, `
      + `${o.files} files). It is checked again first; nothing else is touched. This cannot be undone.`, 'Dispose');
    if (!ok) return;
    button.disabled = true;
    try {
      const r = await api.post(nsPath('/storage/orphans:dispose'), {locations: [o.location]});
      const res = r.results[0] || {};
      clearError();
      notice(`${res.outcome}: ${res.message}`);
      await load();
    } catch (e) {
      showError(e.message);
      button.disabled = false;
    }
  }

  async function load() {
    list.disabled = true;
    try {
      const r = await api.get(nsPath('/storage/orphans'));
      if (r.orphans.length === 0) {
        out.replaceChildren(h('p', {class: 'empty'}, r.note ? `No orphans: ${r.note}.` : 'No orphaned snapshot data.'));
        return;
      }
      const rows = r.orphans.map((o) => h('tr', {'data-location': o.location},
        h('td', {class: 'mono'}, o.location),
        h('td', {}, o.kind),
        h('td', {class: 'nowrap'}, orphanSize(o.sizeBytes)),
        h('td', {class: 'nowrap', title: o.writtenAt || ''}, o.writtenAt ? ago(o.writtenAt) : '—'),
        h('td', {}, o.deploymentName || short(o.deploymentId),
          o.deploymentExists ? null : h('span', {class: 'sub'}, 'deleted')),
        h('td', {}, h('button', {type: 'button', class: 'danger small', onclick: (ev) => dispose(ev.target, o)}, 'Dispose')),
      ));
      out.replaceChildren(
        h('div', {class: 'table-wrap'}, h('table', {id: 'orphans-table'},
          h('thead', {}, h('tr', {}, ['Location', 'Kind', 'Size', 'Written', 'Deployment', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, rows))),
        h('p', {class: 'muted'}, `${r.orphans.length} orphans, ${orphanSize(r.totalBytes)}`
          + (r.truncated ? ` — truncated: ${r.truncatedReason}` : '')));
    } catch (e) {
      out.replaceChildren(h('p', {class: 'failure'}, e.message));
    } finally {
      list.disabled = false;
    }
  }
  list.onclick = load;
}
