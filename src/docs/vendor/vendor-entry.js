// Part 1 of Kiln's docs vendor bundle (graph). esbuild turns this into an IIFE that sets globals:
//   window.cytoscape (with the 'dagre' layout registered), window.dagre.
// vendor.sh concatenates it with vendor-entry-highlight.js's IIFE into the one file dist/kiln-docs-vendor.min.js:
// two IIFEs evaluate ~40% faster than one esbuild bundle of both (measured: 80–94 vs 128–147 ms main-thread CPU).
import cytoscape from 'cytoscape';
// cytoscape-dagre's dist/ carries its own copy of dagre; its src/ imports @dagrejs/dagre, so one copy is bundled
// and its licence is collected. The package's "exports" hides src/, hence the path.
import cytoscapeDagre from './node_modules/cytoscape-dagre/src/index.mjs';
import dagre from '@dagrejs/dagre';

cytoscape.use(cytoscapeDagre);
globalThis.cytoscape = cytoscape;
globalThis.dagre = dagre;
