// Part 2 of Kiln's docs vendor bundle: window.hljs, highlight.js core with the SQL language only.
import hljs from 'highlight.js/lib/core';
import sql from 'highlight.js/lib/languages/sql';

hljs.registerLanguage('sql', sql);
globalThis.hljs = hljs;
