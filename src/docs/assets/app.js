/* Kiln docs: the single-page site over target/docs/*.json (or the data inlined by --static).
 *
 * The page loads docs/index.json first (every node with what search and the lineage graph need),
 * then each node's details from its shard on demand. Graphs are drawn with cytoscape (dagre
 * layout); selection filters go to the server's /api/select, which runs Kiln's own selection
 * grammar. Performance marks (`kiln:*`) let tests read how long each step took.
 */
(function () {
  'use strict';

  const STATIC = window.KILN_DOCS_DATA || null;
  const GRAPH_TYPES = new Set(['model', 'source', 'seed', 'snapshot', 'analysis']);
  const TYPE_COLORS = {
    model: '#2563eb', source: '#16a34a', seed: '#d97706', snapshot: '#7c3aed',
    analysis: '#64748b', test: '#0891b2', macro: '#475569', external: '#94a3b8',
  };
  const KIND_COLORS = { passthrough: '#94a3b8', rename: '#2563eb', expression: '#d97706', aggregate: '#c2410c' };

  const state = {
    index: null, nodes: [], pos: new Map(), children: [], shards: new Map(),
    haystack: null, timeline: null, cy: null, graph: null,
  };

  // ---------- small helpers ----------
  const $ = (sel, root = document) => root.querySelector(sel);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'html') e.innerHTML = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k.nodeType ? k : String(k));
    return e;
  }
  const href = (id) => '#!/node/' + encodeURIComponent(id);
  const nodeLink = (id, text) => el('a', { href: href(id) }, text || nameOf(id));
  function nameOf(id) {
    const i = state.pos.get(id);
    if (i === undefined) return id;
    const n = state.nodes[i];
    return n.type === 'source' ? n.source_name + '.' + n.name : n.name;
  }
  const badge = (type) => el('span', { class: 'badge ' + type }, type);
  const statusTag = (s) => el('span', { class: 'status ' + (s || 'unknown') }, s || 'not run');
  function mark(name) { try { performance.mark(name); } catch (e) { /* ignore */ } }
  function measure(name, start) {
    try { performance.measure(name, { start, end: performance.now() }); } catch (e) { /* ignore */ }
  }
  const afterPaint = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

  // ---------- data ----------
  async function fetchJson(path) {
    const r = await fetch(path, { cache: 'no-cache' });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }
  async function loadIndex() { return STATIC ? STATIC.index : fetchJson('docs/index.json'); }
  function shardOf(id) { return Math.floor(state.pos.get(id) / state.index.shard_size); }
  async function details(id) {
    if (!state.pos.has(id)) return null;
    const n = shardOf(id);
    if (!state.shards.has(n)) {
      state.shards.set(n, STATIC ? Promise.resolve(STATIC.shards[n] || {}) : fetchJson('docs/details-' + n + '.json'));
    }
    return (await state.shards.get(n))[id] || null;
  }
  async function timeline() {
    if (!state.timeline) state.timeline = STATIC ? Promise.resolve(STATIC.timeline) : fetchJson('docs/timeline.json');
    return state.timeline;
  }

  function buildIndex(index) {
    state.index = index;
    state.nodes = index.nodes;
    state.children = state.nodes.map(() => []);
    state.nodes.forEach((n, i) => {
      state.pos.set(n.id, i);
      for (const p of n.parents || []) state.children[p].push(i);
    });
  }

  // ---------- search ----------
  function buildHaystack() {
    state.haystack = state.nodes.map((n) => ({
      name: n.name.toLowerCase(),
      full: (n.source_name ? n.source_name + '.' : '') + n.name.toLowerCase(),
      columns: (n.columns || []).map((c) => c.toLowerCase()),
      text: ((n.description || '') + ' ' + (n.tags || []).join(' ') + ' ' + n.path).toLowerCase(),
      tags: (n.tags || []).map((t) => t.toLowerCase()),
    }));
  }
  function search(q) {
    if (!state.haystack) buildHaystack();
    q = q.trim().toLowerCase();
    if (!q) return { hits: [], total: 0 };
    const hits = [];
    for (let i = 0; i < state.haystack.length; i++) {
      const h = state.haystack[i];
      let score = -1, why = '';
      if (h.name === q || h.full === q) score = 0;
      else if (h.name.startsWith(q)) score = 1;
      else if (h.full.includes(q)) score = 2;
      else {
        const c = h.columns.find((c) => c.includes(q));
        if (c !== undefined) { score = 3; why = 'column ' + c; }
        else if (h.tags.includes(q)) { score = 4; why = 'tag ' + q; }
        else if (h.text.includes(q)) { score = 5; why = state.nodes[i].description || state.nodes[i].path; }
      }
      if (score >= 0) hits.push([score, i, why]);
    }
    hits.sort((a, b) => a[0] - b[0] || state.nodes[a[1]].name.length - state.nodes[b[1]].name.length || a[1] - b[1]);
    return { hits: hits.slice(0, 40), total: hits.length };
  }
  function renderSearch(q) {
    const start = performance.now();
    const box = $('#search-results');
    const { hits, total } = search(q);
    box.replaceChildren(...hits.map(([, i, why]) => {
      const n = state.nodes[i];
      return el('a', { href: href(n.id), 'data-id': n.id, onclick: () => closeSearch() },
        badge(n.type), ' ', el('b', null, nameOf(n.id)), ' ', el('span', { class: 'kv' }, n.package),
        why ? el('span', { class: 'why' }, why) : null);
    }), total > hits.length ? el('div', { class: 'more' }, `${total - hits.length} more: refine the search`) : '');
    if (q.trim() && !hits.length) box.replaceChildren(el('div', { class: 'more' }, 'No matches'));
    measure('kiln:search', start);
  }
  function closeSearch() { $('#search-results').replaceChildren(); }

  // ---------- trees ----------
  function folderTree(items, keyOf) {
    const root = { name: '', folders: new Map(), leaves: [] };
    for (const i of items) {
      const parts = keyOf(state.nodes[i]);
      let f = root;
      for (const p of parts) {
        if (!f.folders.has(p)) f.folders.set(p, { name: p, folders: new Map(), leaves: [] });
        f = f.folders.get(p);
      }
      f.leaves.push(i);
    }
    return root;
  }
  function countLeaves(f) { let n = f.leaves.length; for (const c of f.folders.values()) n += countLeaves(c); return n; }
  function renderFolder(f, open) {
    const ul = el('ul', { class: 'tree' });
    const folders = [...f.folders.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const c of folders) {
      const li = el('li');
      let sub = null;
      const caret = el('span', { class: 'caret' }, open ? '▾' : '▸');
      const toggle = () => {
        if (sub) { sub.remove(); sub = null; caret.textContent = '▸'; return; }
        sub = renderFolder(c, false); li.append(sub); caret.textContent = '▾';
      };
      li.append(el('div', { class: 'row folder', onclick: toggle }, caret, c.name, el('span', { class: 'count' }, countLeaves(c))));
      ul.append(li);
      if (open) { sub = renderFolder(c, false); li.append(sub); }
    }
    const leaves = [...f.leaves].sort((a, b) => state.nodes[a].name.localeCompare(state.nodes[b].name));
    for (const i of leaves) {
      const n = state.nodes[i];
      ul.append(el('li', null, el('a', { class: 'row', href: href(n.id), 'data-id': n.id },
        el('span', { class: 'caret' }), el('span', { style: `color:${TYPE_COLORS[n.type]}` }, '●'), ' ', n.name)));
    }
    return ul;
  }
  function projectTree() {
    const items = state.nodes.map((_, i) => i).filter((i) => state.nodes[i].type !== 'test');
    return folderTree(items, (n) => {
      if (n.type === 'source') return [n.package, 'sources', n.source_name];
      const dirs = n.path.split('/').slice(0, -1);
      return [n.package, ...dirs];
    });
  }
  function databaseTree() {
    const items = state.nodes.map((_, i) => i).filter((i) => state.nodes[i].schema);
    return folderTree(items, (n) => [n.schema]);
  }
  function renderSidebar(which) {
    const aside = $('aside');
    const tabs = el('div', { class: 'tabs' },
      el('button', { class: which === 'project' ? 'active' : '', onclick: () => renderSidebar('project') }, 'Project'),
      el('button', { class: which === 'database' ? 'active' : '', onclick: () => renderSidebar('database') }, 'Database'));
    const tree = which === 'project' ? projectTree() : databaseTree();
    aside.replaceChildren(tabs, renderFolder(tree, which === 'project' && tree.folders.size <= 3));
  }

  // ---------- pages ----------
  function section(title, ...body) { return [el('h2', null, title), ...body]; }
  function code(text) {
    const pre = el('pre', { class: 'code' });
    const c = el('code', { class: 'language-sql' });
    c.textContent = text;
    if (window.hljs && text.length < 200000) {
      try { c.innerHTML = window.hljs.highlight(text, { language: 'sql', ignoreIllegals: true }).value; } catch (e) { /* plain */ }
    }
    pre.append(c);
    return pre;
  }
  function codeTabs(d) {
    const tabs = [];
    if (d.raw_code) tabs.push(['Source', d.raw_code]);
    if (d.compiled_code) tabs.push(['Compiled', d.compiled_code]);
    if (!tabs.length) return null;
    const holder = el('div');
    const bar = el('div', { class: 'codetabs' });
    const show = (k) => {
      [...bar.children].forEach((b, j) => b.classList.toggle('active', j === k));
      holder.replaceChildren(code(tabs[k][1]));
    };
    tabs.forEach(([name], k) => bar.append(el('button', { onclick: () => show(k), 'data-tab': name.toLowerCase() }, name)));
    const wrap = el('div', null, bar, holder);
    show(0);
    return wrap;
  }
  function facts(pairs) {
    const dl = el('dl', { class: 'facts' });
    for (const [k, v] of pairs) if (v !== null && v !== undefined && v !== '') dl.append(el('dt', null, k), el('dd', null, v));
    return dl;
  }
  function testBadges(counts) {
    if (!counts) return null;
    const parts = [];
    if (counts.fail) parts.push(el('span', { class: 'status fail' }, counts.fail + ' failing'));
    if (counts.error) parts.push(el('span', { class: 'status error' }, counts.error + ' errored'));
    if (counts.warn) parts.push(el('span', { class: 'status warn' }, counts.warn + ' warning'));
    if (counts.pass) parts.push(el('span', { class: 'status pass' }, counts.pass + ' passing'));
    if (counts.unknown) parts.push(el('span', { class: 'status unknown' }, counts.unknown + ' not run'));
    return el('span', null, ...parts.flatMap((p) => [p, ' ']));
  }
  function columnsTable(n, d) {
    if (!d.columns.length) return el('p', { class: 'empty' }, 'No columns known: document them in YAML, or run `kiln docs generate` against the built database.');
    const canTrace = GRAPH_TYPES.has(n.type) && n.type !== 'source' && n.type !== 'seed';
    return el('table', { class: 'grid columns' },
      el('thead', null, el('tr', null, el('th', null, 'Column'), el('th', null, 'Type'), el('th', null, 'Description'), el('th', null, 'Tests'), canTrace ? el('th', null, 'Lineage') : null)),
      el('tbody', null, d.columns.map((c) => el('tr', { 'data-column': c.name },
        el('td', null, el('code', null, c.name)),
        el('td', { class: 'mono' }, c.data_type || ''),
        el('td', { class: 'desc', html: c.description_html || '' }),
        el('td', null, c.tests.map((t) => el('div', null, el('a', { href: href(t.id) }, t.name), ' ', statusTag(t.status)))),
        canTrace ? el('td', null, d.lineage[c.name] || findKey(d.lineage, c.name)
          ? el('a', { href: '#!/columns/' + encodeURIComponent(n.id) + '/' + encodeURIComponent(c.name), class: 'trace' }, 'upstream') : '') : null))));
  }
  function findKey(obj, key) {
    const k = Object.keys(obj || {}).find((k) => k.toLowerCase() === String(key).toLowerCase());
    return k === undefined ? undefined : obj[k];
  }
  function idList(ids) {
    if (!ids || !ids.length) return el('p', { class: 'empty' }, 'None');
    return el('ul', { class: 'links' }, ids.map((id) => el('li', null, state.pos.has(id) ? badge(state.nodes[state.pos.get(id)].type) : '', ' ', nodeLink(id))));
  }

  async function renderNode(id) {
    const i = state.pos.get(id);
    const main = $('main');
    if (i === undefined) { main.replaceChildren(el('div', { class: 'page' }, el('h1', null, 'Not found'), el('p', null, id))); return; }
    const n = state.nodes[i];
    highlightTree(id);
    main.replaceChildren(el('div', { class: 'page' }, el('h1', null, nameOf(id)), el('p', { class: 'sub' }, 'Loading…')));
    const d = await details(id);
    if (!d || location.hash !== '#!/node/' + encodeURIComponent(id)) return;
    const page = el('div', { class: 'page', 'data-node': id });
    page.append(el('h1', null, nameOf(id), ' ', badge(n.type)));
    page.append(el('div', { class: 'sub' }, n.relation ? el('code', null, n.relation) : n.path));
    if (GRAPH_TYPES.has(n.type)) {
      page.append(el('p', null, el('a', { class: 'btn primary', href: '#!/lineage/' + encodeURIComponent(id) }, 'Lineage graph'), ' ',
        testBadges(n.test_counts)));
    }
    if (d.description_html) page.append(el('div', { class: 'desc', html: d.description_html }));
    const f = [['Package', n.package], ['File', el('code', null, n.path)]];
    if (n.materialized) f.push(['Materialized', n.materialized]);
    if (n.schema) f.push(['Schema', n.schema]);
    if (n.tags && n.tags.length) f.push(['Tags', n.tags.join(', ')]);
    if (d.catalog) {
      f.push(['Relation type', d.catalog.type]);
      if (d.catalog.owner) f.push(['Owner', d.catalog.owner]);
      if (d.catalog.row_count !== undefined) f.push(['Rows', d.catalog.row_count.toLocaleString()]);
      if (d.catalog.comment) f.push(['Comment', d.catalog.comment]);
    }
    if (d.last_run) f.push(['Last run', el('span', null, statusTag(d.last_run.status), ' ', d.last_run.message, ` (${d.last_run.execution_time.toFixed(2)} s)`)]);
    for (const [k, v] of Object.entries(d.facts || {})) {
      if (k === 'source_description_html') continue;
      f.push([k.replace(/_/g, ' '), typeof v === 'string' ? v : el('code', null, JSON.stringify(v))]);
    }
    if (n.tests_node !== undefined) f.push(['Tests', nodeLink(state.nodes[n.tests_node].id)]);
    page.append(facts(f));
    if (d.facts && d.facts.source_description_html) page.append(...section('Source', el('div', { class: 'desc', html: d.facts.source_description_html })));
    if (n.type !== 'macro' && n.type !== 'test') page.append(...section('Columns', columnsTable(n, d)));
    const tabs = codeTabs(d);
    if (tabs) page.append(...section(n.type === 'macro' ? 'Macro' : 'Code', tabs));
    if (n.type === 'macro') page.append(...section('Used by', idList(d.macros)));
    else {
      page.append(...section('Depends on', idList(d.depends_on)));
      page.append(...section('Referenced by', idList(d.referenced_by)));
      if (d.macros && d.macros.length) page.append(...section('Macros', idList(d.macros)));
      page.append(...section('Config', el('pre', { class: 'code' }, JSON.stringify(d.config, null, 2))));
    }
    main.replaceChildren(page);
    main.scrollTop = 0;
  }

  function renderOverview() {
    const counts = {};
    for (const n of state.nodes) counts[n.type] = (counts[n.type] || 0) + 1;
    const order = ['model', 'source', 'seed', 'snapshot', 'test', 'analysis', 'macro'];
    const ix = state.index;
    const failing = state.nodes.filter((n) => n.test_counts && (n.test_counts.fail || n.test_counts.error));
    $('main').replaceChildren(el('div', { class: 'page' },
      el('h1', null, ix.project),
      el('p', { class: 'sub' }, `${ix.adapter} target ${ix.target} · generated ${ix.generated_at}`),
      facts(order.filter((t) => counts[t]).map((t) => [t === 'analysis' ? 'analyses' : t + 's', String(counts[t])])),
      el('p', null, el('a', { class: 'btn', href: '#!/lineage' }, 'Whole lineage graph'), ' ',
        ix.has_timeline ? el('a', { class: 'btn', href: '#!/timeline' }, 'Last run timeline') : ''),
      failing.length ? section('Failing tests', idList(failing.map((n) => n.id))) : []));
  }

  function highlightTree(id) {
    for (const r of document.querySelectorAll('aside .row.current')) r.classList.remove('current');
    const r = document.querySelector(`aside .row[data-id="${CSS.escape(id)}"]`);
    if (r) r.classList.add('current');
  }

  // ---------- model lineage ----------
  const graphStyle = [
    { selector: 'node', style: {
      shape: 'round-rectangle', width: 'data(w)', height: 30, label: 'data(label)', 'font-size': 12,
      'text-valign': 'center', 'text-halign': 'center', color: '#fff', 'background-color': 'data(color)',
      'border-width': 3, 'border-color': 'data(border)', 'text-wrap': 'none', 'min-zoomed-font-size': 6 } },
    { selector: 'node.root', style: { 'border-color': '#111827', 'border-width': 4, 'underlay-color': '#fdba74', 'underlay-opacity': 0.7, 'underlay-padding': 6 } },
    { selector: 'node.more', style: { 'border-style': 'dashed' } },
    { selector: 'node:selected', style: { 'overlay-color': '#111827', 'overlay-opacity': 0.15 } },
    { selector: 'edge', style: { width: 1.5, 'line-color': '#94a3b8', 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#94a3b8' } },
    { selector: 'edge.kind', style: { label: 'data(kind)', 'font-size': 10, color: '#475569', 'text-background-color': '#fff', 'text-background-opacity': 0.9,
      'text-background-padding': '2px', 'line-color': 'data(color)', 'target-arrow-color': 'data(color)', width: 2 } },
    { selector: '.faded', style: { opacity: 0.25 } },
  ];
  let measurer = null;
  /** The width a node needs for its label (cytoscape's layouts read sizes from the style). */
  function labelWidth(text) {
    if (!measurer) { measurer = document.createElement('canvas').getContext('2d'); measurer.font = '12px Helvetica, Arial, sans-serif'; }
    return Math.ceil(measurer.measureText(text).width) + 24;
  }
  function testBorder(c) {
    if (!c) return '#e2e8f0';
    if (c.fail || c.error) return '#dc2626';
    if (c.warn) return '#f59e0b';
    if (c.pass) return '#22c55e';
    return '#cbd5e1';
  }
  function testLabel(c) {
    if (!c) return '';
    if (c.fail || c.error) return '  ✗' + (c.fail + c.error);
    if (c.warn) return '  ⚠' + c.warn;
    if (c.pass) return '  ✓' + c.pass;
    return '';
  }
  function graphParents(i) { return (state.nodes[i].parents || []).filter((p) => GRAPH_TYPES.has(state.nodes[p].type)); }
  function graphChildren(i) { return state.children[i].filter((c) => GRAPH_TYPES.has(state.nodes[c].type)); }
  function neighbourhood(root, up, down) {
    const set = new Set([root]);
    let f = [root];
    for (let d = 0; d < up; d++) { const nf = []; for (const x of f) for (const p of graphParents(x)) if (!set.has(p)) { set.add(p); nf.push(p); } f = nf; }
    f = [root];
    for (let d = 0; d < down; d++) { const nf = []; for (const x of f) for (const c of graphChildren(x)) if (!set.has(c)) { set.add(c); nf.push(c); } f = nf; }
    return set;
  }
  function hasHidden(i, set) { return graphParents(i).some((p) => !set.has(p)) || graphChildren(i).some((c) => !set.has(c)); }
  function nodeElement(i, set) {
    const n = state.nodes[i];
    const label = nameOf(n.id) + testLabel(n.test_counts);
    return { group: 'nodes', data: { id: n.id, label, w: labelWidth(label), color: TYPE_COLORS[n.type], border: testBorder(n.test_counts) },
      classes: hasHidden(i, set) ? 'more' : '' };
  }
  function elementsFor(set) {
    const els = [];
    for (const i of set) els.push(nodeElement(i, set));
    for (const i of set) for (const p of graphParents(i)) if (set.has(p)) els.push({ group: 'edges', data: { id: state.nodes[p].id + '>' + state.nodes[i].id, source: state.nodes[p].id, target: state.nodes[i].id } });
    return els;
  }
  function layoutOptions(n) {
    return { name: 'dagre', rankDir: 'LR', nodeSep: 12, rankSep: n > 300 ? 60 : 90, edgeSep: 6, animate: false, fit: true, padding: 24 };
  }
  function runLayout(cy, n) {
    return new Promise((resolve) => {
      const layout = cy.layout(layoutOptions(n));
      layout.one('layoutstop', resolve);
      layout.run();
    });
  }
  function setGraph(container, els, count) {
    if (state.cy) { state.cy.destroy(); state.cy = null; }
    const big = count > 1500;
    state.cy = window.cytoscape({
      container, elements: els, style: graphStyle, layout: { name: 'preset' },
      minZoom: 0.02, maxZoom: 3, boxSelectionEnabled: false,
      textureOnViewport: big, hideEdgesOnViewport: big, pixelRatio: big ? 1 : 'auto',
    });
    window.kilnDocs.cy = state.cy;
    return state.cy;
  }

  /** Graphs up to this size are drawn node by node; a larger whole graph opens as a map of
   *  folders (cytoscape takes tens of seconds to draw ten thousand nodes, and nobody reads them). */
  const DRAW_LIMIT = 1200;

  async function renderLineage(rootId, group) {
    const main = $('main');
    const rootIx = rootId ? state.pos.get(rootId) : undefined;
    const canvas = el('div', { class: 'graph-canvas', id: 'graph' });
    const side = el('div', { class: 'graph-side' });
    const msg = el('span', { class: 'msg' });
    const filter = el('input', { type: 'text', id: 'selector', placeholder: 'selector, e.g. +orders tag:daily', spellcheck: 'false' });
    const exclude = el('input', { type: 'text', id: 'exclude', placeholder: '--exclude', spellcheck: 'false' });
    const bar = el('div', { class: 'graph-bar' },
      el('form', { onsubmit: (e) => { e.preventDefault(); applySelector(filter.value, exclude.value, msg, canvas, side); } },
        filter, ' ', exclude, ' ', el('button', { class: 'btn', type: 'submit' }, 'Select')),
      rootId || group ? el('a', { class: 'btn', href: '#!/lineage' }, 'Whole graph') : null,
      rootId ? el('a', { class: 'btn', href: href(rootId) }, 'Back to ' + nameOf(rootId)) : null,
      msg,
      el('span', { class: 'legend' }, ...['model', 'source', 'seed', 'snapshot', 'analysis'].map((t) => el('span', null, el('i', { style: `background:${TYPE_COLORS[t]}` }), t)),
        el('span', null, el('i', { style: 'background:#fff;border:2px solid #22c55e' }), 'tests pass'),
        el('span', null, el('i', { style: 'background:#fff;border:2px solid #dc2626' }), 'tests fail'),
        el('span', null, el('i', { style: 'background:#fff;border:2px dashed #64748b' }), 'more hidden')));
    main.replaceChildren(el('div', { class: 'graph-view' }, bar, el('div', { class: 'graph-body' }, canvas, side)));
    const start = performance.now();
    let set;
    if (rootIx !== undefined) set = neighbourhood(rootIx, 2, 2);
    else {
      set = new Set(state.nodes.map((_, i) => i).filter((i) => GRAPH_TYPES.has(state.nodes[i].type)));
      if (group) set = new Set([...set].filter((i) => groupOf(state.nodes[i], group.split('/').length) === group));
      if (set.size > DRAW_LIMIT) {
        await drawGroups(set, group, canvas, side, msg);
        measure('kiln:lineage-whole', start);
        return;
      }
    }
    state.graph = { set, root: rootIx, canvas, side, msg };
    msg.textContent = rootIx !== undefined ? `${set.size} nodes: two levels up and down. Click a node to see it; a dashed node expands in place.`
      : `${set.size} nodes${group ? ' in ' + group : ''}`;
    await drawGraph();
    measure(rootIx !== undefined ? 'kiln:lineage-open' : 'kiln:lineage-whole', start);
  }

  /** Marks a graph view ready for clicks. Text above the canvas may have moved it, and
   *  cytoscape caches where its canvas is: tell it to look again. */
  function graphDone() {
    if (state.cy) state.cy.resize();
    window.kilnDocs.graphReady = true;
  }

  /** The folder a node is in, `depth` levels deep: `<package>/<folder>/...` (sources by source). */
  function groupOf(n, depth) {
    const parts = n.type === 'source' ? [n.package, 'sources', n.source_name] : [n.package, ...n.path.split('/').slice(0, -1)];
    return parts.slice(0, Math.max(1, depth)).join('/');
  }

  /** The map of a large graph: one box per folder with its node count, edges weighted by how
   *  many refs cross between folders. A click on a folder opens it. */
  async function drawGroups(set, prefix, canvas, side, msg) {
    window.kilnDocs.graphReady = false;
    let depth = prefix ? prefix.split('/').length + 1 : 2;
    let groups;
    for (;; depth++) {
      groups = new Map();
      for (const i of set) {
        const g = groupOf(state.nodes[i], depth);
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(i);
      }
      const deeper = [...set].some((i) => groupOf(state.nodes[i], depth + 1) !== groupOf(state.nodes[i], depth));
      if (groups.size >= 4 || !deeper || depth > 12) break;
    }
    const groupOfNode = new Map();
    for (const [g, members] of groups) for (const i of members) groupOfNode.set(i, g);
    const weights = new Map();
    for (const i of set) for (const p of graphParents(i)) {
      const a = groupOfNode.get(p), b = groupOfNode.get(i);
      if (a === undefined || a === b) continue;
      const k = a + '\u0000' + b;
      weights.set(k, (weights.get(k) || 0) + 1);
    }
    const els = [];
    for (const [g, members] of groups) {
      const label = g.split('/').slice(1).join('/') + ' (' + members.length + ')';
      const failing = members.some((i) => { const c = state.nodes[i].test_counts; return c && (c.fail || c.error); });
      els.push({ group: 'nodes', data: { id: 'group:' + g, label, w: labelWidth(label), color: '#334155', border: failing ? '#dc2626' : '#e2e8f0', group: g } });
    }
    for (const [k, n] of weights) {
      const [a, b] = k.split('\u0000');
      els.push({ group: 'edges', data: { id: 'w:' + k, source: 'group:' + a, target: 'group:' + b, kind: String(n), color: '#94a3b8' }, classes: 'kind' });
    }
    const cy = setGraph(canvas, els, groups.size);
    await runLayout(cy, groups.size);
    cy.on('tap', 'node', (e) => { location.hash = '#!/lineage-group/' + encodeURIComponent(e.target.data('group')); });
    side.replaceChildren(el('h3', null, groups.size + ' folders'),
      el('p', { class: 'kv' }, `${set.size} nodes are too many to draw one by one; each box is a folder, each edge counts the refs between two folders. Open a folder, or type a selector.`),
      el('ul', { class: 'in-view groups' }, [...groups].sort((a, b) => b[1].length - a[1].length).map(([g, m]) =>
        el('li', { 'data-group': g }, el('a', { href: '#!/lineage-group/' + encodeURIComponent(g) }, g), el('span', { class: 'kv' }, String(m.length))))));
    msg.textContent = `${set.size} nodes in ${groups.size} folders`;
    await afterPaint();
    graphDone();
  }

  async function drawGraph() {
    window.kilnDocs.graphReady = false;
    const g = state.graph;
    const cy = setGraph(g.canvas, elementsFor(g.set), g.set.size);
    if (g.root !== undefined) cy.$id(state.nodes[g.root].id).addClass('root');
    await runLayout(cy, g.set.size);
    // A click shows the node beside the graph and, when some of its neighbours are hidden
    // (a dashed border), brings them in.
    cy.on('tap', 'node', (e) => {
      const id = e.target.id();
      if (hasHidden(state.pos.get(id), state.graph.set)) expand(id);
      else showInSide(id);
    });
    renderSide();
    await afterPaint();
    graphDone();
  }

  function renderSide(selected) {
    const g = state.graph;
    const items = [...g.set].sort((a, b) => state.nodes[a].name.localeCompare(state.nodes[b].name));
    const top = [];
    if (selected !== undefined) {
      const n = state.nodes[selected];
      top.push(el('h3', null, nameOf(n.id), ' ', badge(n.type)),
        el('p', { class: 'desc' }, n.description || ''),
        el('p', null, el('a', { class: 'btn', href: href(n.id) }, 'Open page'), ' ',
          hasHidden(selected, g.set) ? el('button', { class: 'btn', onclick: () => expand(n.id) }, 'Expand') : '', ' ',
          el('a', { class: 'btn', href: '#!/lineage/' + encodeURIComponent(n.id) }, 'Focus')),
        testBadges(n.test_counts) || '');
    }
    const list = el('ul', { class: 'in-view' }, items.slice(0, 400).map((i) => {
      const n = state.nodes[i];
      return el('li', { 'data-id': n.id }, el('span', { style: `color:${TYPE_COLORS[n.type]}` }, '●'),
        el('a', { href: '#', onclick: (e) => { e.preventDefault(); showInSide(n.id); } }, nameOf(n.id)),
        hasHidden(i, g.set) ? el('button', { class: 'expand', title: 'Show its parents and children', onclick: () => expand(n.id) }, '⊕') : '');
    }));
    g.side.replaceChildren(...top, el('h3', { style: 'margin-top:14px' }, 'In view (' + g.set.size + ')'), list,
      items.length > 400 ? el('p', { class: 'kv' }, (items.length - 400) + ' more') : '');
  }

  function showInSide(id) {
    const i = state.pos.get(id);
    if (state.cy) { state.cy.$(':selected').unselect(); state.cy.$id(id).select(); }
    renderSide(i);
  }

  /** Adds a node's parents and children to the graph in place. */
  async function expand(id) {
    window.kilnDocs.graphReady = false;
    const start = performance.now();
    const g = state.graph;
    const i = state.pos.get(id);
    const added = [];
    for (const j of [...graphParents(i), ...graphChildren(i)]) if (!g.set.has(j)) { g.set.add(j); added.push(j); }
    const cy = state.cy;
    cy.batch(() => {
      for (const j of added) cy.add(nodeElement(j, g.set));
      for (const j of added) {
        for (const p of graphParents(j)) if (g.set.has(p) && cy.$id(state.nodes[p].id + '>' + state.nodes[j].id).empty()) cy.add({ group: 'edges', data: { id: state.nodes[p].id + '>' + state.nodes[j].id, source: state.nodes[p].id, target: state.nodes[j].id } });
        for (const c of graphChildren(j)) if (g.set.has(c) && cy.$id(state.nodes[j].id + '>' + state.nodes[c].id).empty()) cy.add({ group: 'edges', data: { id: state.nodes[j].id + '>' + state.nodes[c].id, source: state.nodes[j].id, target: state.nodes[c].id } });
      }
      for (const k of g.set) cy.$id(state.nodes[k].id).toggleClass('more', hasHidden(k, g.set));
    });
    await runLayout(cy, g.set.size);
    g.msg.textContent = `${g.set.size} nodes (${added.length} added around ${nameOf(id)})`;
    renderSide(i);
    cy.$id(id).select();
    await afterPaint();
    measure('kiln:lineage-expand', start);
    graphDone();
  }

  async function applySelector(select, exclude, msg, canvas, side) {
    if (!select.trim()) { msg.textContent = 'Type a selector, e.g. +orders or tag:daily'; return; }
    if (STATIC) {
      msg.className = 'msg error';
      msg.textContent = 'Selector filters need the server: run `kiln docs serve`.';
      return;
    }
    const start = performance.now();
    msg.className = 'msg';
    msg.textContent = 'Selecting…';
    let body;
    try {
      const r = await fetch('api/select?select=' + encodeURIComponent(select) + '&exclude=' + encodeURIComponent(exclude));
      body = await r.json();
      if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
    } catch (e) {
      msg.className = 'msg error';
      msg.textContent = String(e.message || e);
      return;
    }
    const set = new Set(body.selected.map((id) => state.pos.get(id)).filter((i) => i !== undefined && GRAPH_TYPES.has(state.nodes[i].type)));
    state.graph = { set, root: undefined, canvas, side, msg };
    msg.textContent = `${set.size} nodes match \`${select}\`${exclude ? ' excluding `' + exclude + '`' : ''}`;
    await drawGraph();
    measure('kiln:lineage-select', start);
  }

  // ---------- column lineage ----------
  async function renderColumns(id, column) {
    window.kilnDocs.graphReady = false;
    const main = $('main');
    const start = performance.now();
    const canvas = el('div', { class: 'graph-canvas', id: 'graph' });
    const side = el('div', { class: 'graph-side' }, 'Tracing…');
    const msg = el('span', { class: 'msg' });
    main.replaceChildren(el('div', { class: 'graph-view' },
      el('div', { class: 'graph-bar' }, el('b', null, `Column lineage of ${nameOf(id)}.${column}`), ' ',
        el('a', { class: 'btn', href: href(id) }, 'Back to ' + nameOf(id)), msg,
        el('span', { class: 'legend' }, ...Object.entries(KIND_COLORS).map(([k, c]) => el('span', null, el('i', { style: `background:${c}` }), k)))),
      el('div', { class: 'graph-body' }, canvas, side)));
    // Walk upstream, one model at a time, through each node's column lineage.
    const key = (nid, col) => nid + '\u0000' + col.toLowerCase();
    const seen = new Map();
    const edges = [];
    const queue = [[id, column, 0]];
    seen.set(key(id, column), { node: id, column, depth: 0 });
    while (queue.length && seen.size < 400) {
      const [nid, col, depth] = queue.shift();
      const d = state.pos.has(nid) ? await details(nid) : null;
      const ups = d ? findKey(d.lineage, col) || [] : [];
      for (const u of ups) {
        const upNode = u.node || ('external:' + u.relation);
        const k = key(upNode, u.column);
        if (!seen.has(k)) {
          seen.set(k, { node: upNode, column: u.column, depth: depth + 1, relation: u.relation });
          if (u.node) queue.push([u.node, u.column, depth + 1]);
        }
        edges.push({ from: k, to: key(nid, col), kind: u.kind });
      }
    }
    const els = [];
    for (const [k, c] of seen) {
      const known = state.pos.has(c.node);
      const type = known ? state.nodes[state.pos.get(c.node)].type : 'external';
      const owner = known ? nameOf(c.node) : c.relation;
      const label = owner + '.' + c.column;
      els.push({ group: 'nodes', data: { id: k, label, w: labelWidth(label), color: TYPE_COLORS[type], border: c.depth === 0 ? '#111827' : '#e2e8f0' }, classes: c.depth === 0 ? 'root' : '' });
    }
    edges.forEach((e, j) => els.push({ group: 'edges', data: { id: 'e' + j, source: e.from, target: e.to, kind: e.kind, color: KIND_COLORS[e.kind] || '#94a3b8' }, classes: 'kind' }));
    const cy = setGraph(canvas, els, seen.size);
    await runLayout(cy, seen.size);
    const labelOf = (c) => (state.pos.has(c.node) ? nameOf(c.node) : c.relation) + '.' + c.column;
    const ups = [...seen.values()].filter((c) => c.depth > 0).sort((a, b) => a.depth - b.depth || labelOf(a).localeCompare(labelOf(b)));
    side.replaceChildren(el('h3', null, 'Upstream columns (' + ups.length + ')'),
      ups.length ? el('ul', { class: 'in-view upstream' }, ups.map((c) => el('li', { 'data-column': (state.pos.has(c.node) ? nameOf(c.node) : c.relation) + '.' + c.column },
        state.pos.has(c.node) ? el('a', { href: href(c.node) }, nameOf(c.node) + '.' + c.column) : el('span', null, c.relation + '.' + c.column),
        el('span', { class: 'kv' }, ' ' + edges.filter((e) => e.from === key(c.node, c.column)).map((e) => e.kind).join(', ')))))
        : el('p', { class: 'empty' }, 'Kiln could not trace this column: its upstream columns are unknown.'));
    msg.textContent = `${seen.size} columns, ${edges.length} steps`;
    await afterPaint();
    graphDone();
    measure('kiln:column-lineage', start);
  }

  // ---------- run timeline ----------
  async function renderTimeline() {
    const main = $('main');
    const t = await timeline();
    const page = el('div', { class: 'timeline-wrap', id: 'timeline' });
    page.append(el('h1', null, 'Last run timeline'));
    if (!t || !t.entries.length) {
      page.append(el('p', { class: 'empty' }, 'No run yet: run `kiln build` (or run, test, seed), then `kiln docs generate`.'));
      main.replaceChildren(page);
      return;
    }
    page.append(el('p', { class: 'sub' }, `kiln ${t.command}: ${t.entries.length} nodes on ${t.workers.length} workers in ${t.elapsed.toFixed(2)} s. The critical path (outlined) is the chain of nodes each waiting on the one before.`));
    const laneH = 26, left = 130, width = Math.max(900, Math.min(4000, t.entries.length * 14)), top = 24;
    const scale = (s) => left + (t.elapsed > 0 ? (s / t.elapsed) * (width - left - 20) : 0);
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    const h = top + t.workers.length * laneH + 20;
    svg.setAttribute('width', width); svg.setAttribute('height', h);
    const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; svg.append(e); return e; };
    const ticks = 8;
    for (let k = 0; k <= ticks; k++) {
      const s = (t.elapsed * k) / ticks, x = scale(s);
      add('line', { x1: x, x2: x, y1: top - 6, y2: h - 16, stroke: '#e5e7eb' });
      add('text', { x, y: 14, 'text-anchor': 'middle', fill: '#6b7280' }, s.toFixed(2) + ' s');
    }
    t.workers.forEach((w, k) => add('text', { x: 8, y: top + k * laneH + 17, fill: '#374151' }, w));
    const colors = { success: '#60a5fa', pass: '#4ade80', warn: '#fbbf24', fail: '#f87171', error: '#ef4444' };
    for (const e of t.entries) {
      const x = scale(e.start), w = Math.max(2, scale(e.end) - x), y = top + e.worker * laneH + 3;
      const r = add('rect', { x, y, width: w, height: laneH - 6, rx: 3, fill: e.critical ? '#fb923c' : (colors[e.status] || '#cbd5e1'), class: 'bar' + (e.critical ? ' critical' : ''), 'data-id': e.id });
      const title = document.createElementNS(ns, 'title'); title.textContent = `${e.name} (${e.status}): ${(e.end - e.start).toFixed(3)} s from ${e.start.toFixed(3)} s`; r.append(title);
      r.addEventListener('click', () => { location.hash = href(e.id); });
      if (w > 60) add('text', { x: x + 4, y: y + 14, fill: '#111827', 'pointer-events': 'none' }, e.name.length * 6 > w - 8 ? e.name.slice(0, Math.floor((w - 8) / 6)) + '…' : e.name);
    }
    page.append(el('div', { class: 'gantt' }, svg));
    page.append(...section('Critical path', el('ol', { class: 'links critical-path' }, t.critical_path.map((id) => el('li', null, nodeLink(id))))));
    page.append(...section('What held the run back',
      el('table', { class: 'grid held-back' }, el('thead', null, el('tr', null, el('th', null, 'Node'), el('th', null, 'Seconds'), el('th', null, 'Share of the run'))),
        el('tbody', null, t.held_back.map((b) => el('tr', null, el('td', null, nodeLink(b.id, b.name)), el('td', null, b.duration.toFixed(3)), el('td', null, (b.share * 100).toFixed(1) + ' %')))))));
    main.replaceChildren(page);
  }

  // ---------- routing ----------
  async function route() {
    closeSearch();
    const h = decodeURIComponent(location.hash.replace(/^#!?\/?/, ''));
    $('header nav').querySelectorAll('a').forEach((a) => a.classList.toggle('active', location.hash.startsWith(a.getAttribute('href'))));
    if (state.cy && !h.startsWith('lineage') && !h.startsWith('columns')) { state.cy.destroy(); state.cy = null; window.kilnDocs.cy = null; }
    const [kind, ...rest] = location.hash.replace(/^#!?\/?/, '').split('/');
    const arg = rest.map(decodeURIComponent);
    if (kind === 'node' && arg[0]) return renderNode(arg[0]);
    if (kind === 'lineage') return renderLineage(arg[0]);
    if (kind === 'lineage-group') return renderLineage(undefined, arg.join('/'));
    if (kind === 'columns' && arg[1] !== undefined) return renderColumns(arg[0], arg.slice(1).join('/'));
    if (kind === 'timeline') return renderTimeline();
    // dbt's docs links: #!/model/<unique_id>, #!/source/<unique_id>
    if (arg[0] && state.pos.has(arg[0])) return renderNode(arg[0]);
    void h;
    return renderOverview();
  }

  function shell() {
    const input = el('input', { id: 'search', type: 'search', placeholder: 'Search models, sources, columns, tags…', autocomplete: 'off', spellcheck: 'false' });
    input.addEventListener('input', () => renderSearch(input.value));
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { closeSearch(); input.blur(); }
      if (e.key === 'Enter') { const a = $('#search-results a'); if (a) { location.hash = a.getAttribute('href'); closeSearch(); } }
    });
    document.addEventListener('click', (e) => { if (!e.target.closest('#search-wrap')) closeSearch(); });
    document.addEventListener('keydown', (e) => { if (e.key === '/' && document.activeElement !== input && !/INPUT|TEXTAREA/.test(document.activeElement.tagName)) { e.preventDefault(); input.focus(); } });
    const app = $('#app');
    app.replaceChildren(
      el('header', null, el('a', { class: 'brand', href: '#!/overview', style: 'color:#fff' }, state.index.project, el('span', null, ' · kiln docs')),
        el('div', { id: 'search-wrap' }, input, el('div', { id: 'search-results' })),
        el('nav', null, el('a', { href: '#!/overview' }, 'Overview'), el('a', { href: '#!/lineage' }, 'Lineage'), el('a', { href: '#!/timeline' }, 'Run timeline'))),
      el('aside'), el('main'));
    renderSidebar('project');
  }

  // Under `kiln watch --docs` the server counts the site's rebuilds: the page reloads after
  // each one (plain `kiln docs serve` answers 404, and the page stops asking).
  async function followRebuilds() {
    if (STATIC || location.protocol === 'file:') return;
    let seen = null;
    for (;;) {
      let v = seen;
      try {
        const r = await fetch('api/version', { cache: 'no-cache' });
        if (r.status === 404) return;
        v = (await r.json()).version;
      } catch (e) { /* the server is busy or restarting: ask again */ }
      if (seen !== null && v !== seen) { location.reload(); return; }
      seen = v;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  window.kilnDocs = { cy: null, state, errors: [] };
  window.addEventListener('error', (e) => window.kilnDocs.errors.push(String(e.message)));
  window.addEventListener('unhandledrejection', (e) => window.kilnDocs.errors.push(String(e.reason)));
  window.kilnDocs.ready = (async () => {
    try {
      buildIndex(await loadIndex());
      shell();
      window.addEventListener('hashchange', route);
      await route();
      await afterPaint();
      mark('kiln:usable');
      followRebuilds();
      (window.requestIdleCallback || setTimeout)(() => { if (!state.haystack) buildHaystack(); });
    } catch (e) {
      $('#app').replaceChildren(el('div', { class: 'page' }, el('h1', null, 'The docs could not load'), el('p', null, String(e.message || e)),
        el('p', null, 'Serve them with `kiln docs serve`, or open static_index.html (written by `kiln docs generate --static`).')));
      throw e;
    }
  })();
})();
