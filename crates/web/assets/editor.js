'use strict';
// The YAML editor: "New deployment" on the deployments page and "Edit" on a deployment's page open a
// plain <textarea> with the manifest (a commented starter, or the deployment's metadata and spec as the
// server writes them in YAML, without status). No YAML library in the browser: the server reads YAML
// bodies (Content-Type: application/yaml) and answers YAML when asked (Accept), so the text goes to
// the API as written and the server's {code, message, field} comes back next to the editor.
//
// An edit is applied as a whole replacement: the text goes to PUT …/deployments/{name}, so a key
// deleted from the text is removed on the server, as it would be from a manifest applied again (the
// namespace's deployment defaults still fill in what the spec leaves out; the server-managed
// annotations it loaded may stay as they are: the server keeps its own values). Before an edit of a
// RUNNING deployment with upgrade strategy STATEFUL is applied, the same text goes to
// POST …/upgrade-preview/replace, which answers what exactly that PUT would do: when the template
// changes, the verdict and the per-operator table are shown and the change is applied only after a
// second click. The text carries the resourceVersion the editor loaded, so a change made meanwhile is
// the server's 409 (of the preview or of the PUT), shown as such; the text is kept on every error.
// Creating a deployment is a POST of the text. Nothing a resource holds is rendered as markup: app.js's
// h() sets text only.
//
// Who may edit: GET …/namespaces/{ns}/access says the session's role in the namespace; the editing
// controls are shown to editors, owners and the admin (and on a server without access control).
// Uses app.js's helpers (h, $, API, page, nsPath, uiPath, pill, notice, clearError, toLogin).

const EDITOR_STARTER = `# A new deployment of a Flink jar. Replace the name and the artifact, then Apply.
# Fields left out come from the namespace's deployment defaults; the server checks the rest
# and says which field is wrong.
apiVersion: v1
kind: Deployment
metadata:
  name: my-deployment            # lower-case letters, digits and '-'
  labels: {}
spec:
  state: CANCELLED               # RUNNING starts the job at once; CANCELLED only stores it
  deploymentTargetName: default  # the session cluster it runs on
  upgradeStrategy:
    kind: STATEFUL               # a template change: stop with a savepoint, restore it (STATELESS, NONE)
  restoreStrategy:
    kind: LATEST_STATE           # what a start restores: LATEST_STATE, LATEST_SAVEPOINT or NONE
  template:
    spec:
      artifact:
        kind: JAR
        jarUri: file:///path/to/job.jar
        entryClass: com.example.Job
        mainArgs: ""
      parallelism: 1
      flinkConfiguration:
        execution.checkpointing.interval: 10s
`;

const EDIT_HEADER = `# Applied as a whole replacement (PUT): a key deleted here is removed on the server
# (the namespace's deployment defaults still fill in what the spec leaves out).
# metadata.resourceVersion is the version you loaded: a change made since is refused (409).
`;

/** The roles that may write deployments (see the access route; viewers only read). */
const WRITING_ROLES = ['editor', 'owner', 'admin'];

/** The words for each operator fate of the preview. */
const FATE_WORDS = {
  RESTORED: 'restored', DROPPED: 'state dropped', SKIPPED: 'skipped (no state)', NEW: 'new (starts empty)',
  INCOMPATIBLE: 'incompatible', UNKNOWN: 'unknown',
};

/** An error of the API with its code and field, for the editor to show. */
class EditorError extends Error {
  constructor(message, status, code, field) { super(message); this.status = status; this.code = code; this.field = field; }
}

/** A call with a YAML body (the editor's text, as written), answered in JSON or, with `yaml`, YAML. */
async function yamlCall(method, path, text, yaml) {
  const headers = {Accept: yaml ? 'application/yaml' : 'application/json'};
  if (text !== undefined) headers['Content-Type'] = 'application/yaml';
  let resp;
  try {
    resp = await fetch(API + path, {method, headers, body: text});
  } catch (e) {
    throw new EditorError(`cannot reach the stateplane server (${e.message})`, 0, 'UNREACHABLE');
  }
  const body = await resp.text();
  if (resp.ok) return yaml ? body : JSON.parse(body);
  if (resp.status === 401) toLogin();
  let data = null;
  try { data = JSON.parse(body); } catch (_) { /* a YAML answer, or none */ }
  if (data && data.message) throw new EditorError(data.message, resp.status, data.code, data.field);
  throw new EditorError(`${method} ${path}: ${resp.status} ${resp.statusText}${body ? `: ${body.trim()}` : ''}`, resp.status);
}

const editorAccess = new Map();
/** Whether this session may write deployments of the namespace (see the header); asked once a page. */
function canEdit() {
  if (!editorAccess.has(page.ns)) {
    const asked = yamlCall('GET', nsPath('/access')).then(
      (a) => { document.body.dataset.role = a.role; return WRITING_ROLES.includes(a.role); },
      () => false);
    editorAccess.set(page.ns, asked);
    asked.then((ok) => { document.body.dataset.canEdit = String(ok); });
  }
  return editorAccess.get(page.ns);
}

/** A button shown only when the session may write: "New deployment" or "Edit". */
function editorButton(id, label, title, onclick) {
  const b = h('button', {type: 'button', id, title, onclick, hidden: true}, label);
  canEdit().then((ok) => { b.hidden = !ok; });
  return b;
}

function newDeploymentButton() {
  return editorButton('editor-new', 'New deployment', 'Write a deployment in YAML and create it', () => openEditor(null));
}

function editDeploymentButton(d) {
  return editorButton('editor-edit', 'Edit', 'Edit the deployment as YAML (a template change is previewed first)', () => openEditor(d));
}

/** The deployment as YAML without its status: the server's own YAML, the top-level `status:` block cut (one final newline). */
function withoutStatus(yamlText) {
  const out = [];
  let skipping = false;
  for (const line of yamlText.split('\n')) {
    if (/^\S/.test(line)) skipping = /^status\s*:/.test(line);
    if (!skipping) out.push(line);
  }
  return out.join('\n').replace(/\n*$/, '\n');
}

/** The editor's dialog, built once. */
function editorDialog() {
  let dialog = $('#editor-dialog');
  if (dialog) return dialog;
  const text = h('textarea', {id: 'editor-text', class: 'yaml-editor', spellcheck: 'false', autocomplete: 'off',
    autocapitalize: 'off', wrap: 'off', rows: 26, 'aria-label': 'Deployment YAML'});
  text.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Tab' || ev.shiftKey || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    ev.preventDefault();
    // insertText keeps the browser's undo history; setRangeText where it is not supported
    if (!document.execCommand('insertText', false, '  ')) text.setRangeText('  ', text.selectionStart, text.selectionEnd, 'end');
  });
  dialog = h('dialog', {id: 'editor-dialog', class: 'editor'},
    h('form', {method: 'dialog', id: 'editor-form'},
      h('h2', {id: 'editor-title'}),
      h('p', {class: 'hint', id: 'editor-hint'}),
      text,
      h('div', {id: 'editor-error', class: 'editor-error', role: 'alert', hidden: true}),
      h('div', {id: 'editor-preview', hidden: true}),
      h('div', {class: 'buttons'},
        h('button', {type: 'button', class: 'secondary', id: 'editor-reload', hidden: true}, 'Load the current version'),
        h('span', {class: 'spacer'}),
        h('button', {type: 'button', class: 'secondary', id: 'editor-cancel'}, 'Cancel'),
        h('button', {type: 'button', class: 'secondary', id: 'editor-back', hidden: true}, 'Back to editing'),
        h('button', {type: 'submit', class: 'primary', id: 'editor-apply'}, 'Apply'))));
  document.body.append(dialog);
  $('#editor-cancel').onclick = () => dialog.close();
  return dialog;
}

/** Shows the API's error (message, field, code) next to the editor; `null` clears it. */
function editorError(e) {
  const box = $('#editor-error');
  if (!e) { box.hidden = true; box.replaceChildren(); return; }
  const lines = [h('p', {class: 'form-error', id: 'editor-error-message'}, e.message)];
  const facts = [e.code ? `code ${e.code}` : null, e.field ? `field ${e.field}` : null, e.status ? `HTTP ${e.status}` : null]
    .filter(Boolean).join(' · ');
  if (facts) lines.push(h('p', {class: 'hint'}, facts));
  if (e.status === 409 && /resourceVersion/.test(e.message)) {
    lines.push(h('p', {class: 'hint'}, 'The deployment changed since you opened the editor (a status update by the '
      + 'controller counts too). Your text is kept: copy what you changed, load the current version and apply again.'));
  }
  box.replaceChildren(...lines);
  box.hidden = false;
}

/** The preview's verdict and per-operator table. */
function renderUpgradePreview(box, p) {
  const bytes = (n) => (typeof formatBytes === 'function' ? formatBytes(n) : `${n} B`);
  const parts = [
    h('p', {class: 'preview-verdict'}, h('b', {}, 'Upgrade preview: '), pill(p.decision, 'decision'),
      p.verdict ? [' ', pill(p.verdict, 'verdict')] : null),
    h('p', {id: 'editor-preview-message'}, p.message),
  ];
  if (p.snapshot) parts.push(h('p', {class: 'hint'}, `Compared with ${p.snapshot}.`));
  if (p.operators.length > 0) {
    const rows = p.operators.map((o) => h('tr', {'data-operator-id': o.operatorId, 'data-fate': o.fate},
      h('td', {}, o.uid || o.name || h('span', {class: 'muted'}, '—'), h('span', {class: 'sub mono', title: o.operatorId}, short(o.operatorId))),
      h('td', {}, pill(o.fate, 'fate'), h('span', {class: 'sub'}, FATE_WORDS[o.fate] || '')),
      h('td', {class: 'nowrap'}, bytes(o.stateBytes)),
      h('td', {}, o.reason)));
    parts.push(h('div', {class: 'table-wrap'}, h('table', {id: 'editor-preview-operators'},
      h('thead', {}, h('tr', {}, ['Operator', 'Fate', 'State', 'Reason'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows))));
  }
  if (p.reasons.length > 0) parts.push(h('ul', {class: 'preview-reasons'}, p.reasons.map((r) => h('li', {}, r))));
  box.replaceChildren(...parts);
  box.hidden = false;
}

/** Opens the editor: `d` null creates a deployment, otherwise edits `d`. */
async function openEditor(d) {
  const dialog = editorDialog();
  const text = $('#editor-text');
  const apply = $('#editor-apply');
  const back = $('#editor-back');
  const reload = $('#editor-reload');
  const previewBox = $('#editor-preview');
  // confirming: the preview shown is of exactly this text; a second Apply sends it
  let confirming = null;
  const reset = () => {
    confirming = null;
    previewBox.hidden = true;
    $('#editor-form').classList.remove('previewing');
    back.hidden = true;
    apply.textContent = d ? 'Apply' : 'Create';
  };
  const load = async () => {
    const yaml = await yamlCall('GET', nsPath(`/deployments/${d.metadata.id}`), undefined, true);
    text.value = EDIT_HEADER + withoutStatus(yaml);
  };
  $('#editor-title').textContent = d ? `Edit ${d.metadata.name}` : 'New deployment';
  $('#editor-hint').textContent = d
    ? 'The deployment\'s metadata and spec as YAML, applied as a whole: what you delete is removed. A template '
      + 'change of a running deployment with a STATEFUL upgrade is previewed before it is applied: which '
      + 'operators\' state would restore, be dropped or start new.'
    : `Creates a deployment in namespace ${page.ns}.`;
  editorError(null);
  reload.hidden = true;
  reset();
  text.oninput = () => { if (confirming !== null) reset(); };
  back.onclick = () => { reset(); text.focus(); };
  reload.onclick = async () => {
    try { await load(); editorError(null); reload.hidden = true; reset(); } catch (e) { editorError(e); }
  };
  if (d) {
    text.value = '';
    try { await load(); } catch (e) { editorError(e); }
  } else {
    text.value = EDITOR_STARTER;
  }

  const send = async (body) => {
    if (!d) {
      const created = await yamlCall('POST', nsPath('/deployments'), body);
      dialog.close();
      location.href = uiPath(`/deployments/${created.metadata.id}`);
      return;
    }
    const updated = await yamlCall('PUT', nsPath(`/deployments/${encodeURIComponent(d.metadata.name)}`), body);
    dialog.close();
    clearError();
    const version = (updated.metadata.annotations || {})[SPEC_VERSION];
    notice(`${updated.metadata.name}: change applied (spec version ${version || '—'}, resourceVersion ${updated.metadata.resourceVersion})`);
    if (page.refresh) page.refresh();
  };
  const stateful = d && d.status.state === 'RUNNING' && d.spec.upgradeStrategy.kind === 'STATEFUL';
  $('#editor-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const body = text.value;
    apply.disabled = true;
    editorError(null);
    try {
      if (confirming === body || !stateful) {
        await send(body);
        return;
      }
      apply.textContent = 'Previewing…';
      let preview;
      try {
        preview = await yamlCall('POST', nsPath(`/deployments/${d.metadata.id}/upgrade-preview/replace`), body);
      } catch (e) {
        if (e.status !== 503) throw e;
        // Flink or storage did not answer: say so, and let the user decide without a preview
        editorError(e);
        confirming = body;
        back.hidden = false;
        apply.textContent = 'Apply without a preview';
        return;
      }
      if (preview.decision === 'NO_UPGRADE') {
        await send(body);
        return;
      }
      renderUpgradePreview(previewBox, preview);
      // the text gives the preview room; it grows back when edited
      $('#editor-form').classList.add('previewing');
      confirming = body;
      back.hidden = false;
      apply.textContent = preview.decision === 'REFUSED' ? 'Apply (the upgrade will be refused)' : 'Apply the change';
    } catch (e) {
      if (confirming === null) apply.textContent = d ? 'Apply' : 'Create';
      editorError(e);
      if (e.status === 409 && d) reload.hidden = false;
    } finally {
      apply.disabled = false;
    }
  };
  // Escape would close the dialog and lose the text: only Cancel closes it.
  dialog.oncancel = (ev) => ev.preventDefault();
  if (!dialog.open) dialog.showModal();
  text.focus();
  text.setSelectionRange(0, 0);
  text.scrollTop = 0;
}
