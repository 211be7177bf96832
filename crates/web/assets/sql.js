// SQL deployments: the script of a SQLSCRIPT artifact, shown read-only on the deployment page (the
// overview's "Artifact" item), with its Flink version and additional dependencies. Uses app.js's `h`.
'use strict';

function sqlArtifact(artifact) {
  const deps = artifact.additionalDependencies || [];
  return h('div', {class: 'sql-artifact'},
    h('span', {class: 'muted'}, 'SQL script' + (artifact.flinkVersion ? ` · Flink ${artifact.flinkVersion}` : '')),
    h('pre', {class: 'mono sql-script', id: 'sql-script', 'aria-label': 'SQL script', tabindex: '0'}, artifact.sqlScript || ''),
    deps.length
      ? h('div', {}, h('span', {class: 'muted'}, 'Additional dependencies: '),
          deps.map((uri, i) => [i ? ', ' : '', h('span', {class: 'mono'}, uri)]))
      : null);
}
