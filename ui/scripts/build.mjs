// Builds the app into $SEMATIC_UI_OUT (default ui/dist): index.html, assets/main.js,
// assets/main.css and lazily loaded chunks (vega) under assets/, loaded by absolute path.
// SEMATIC_UI_DEV=1: not minified, with source maps.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.env.SEMATIC_UI_DEV === '1';  // readable output with source maps (profiling)
const out = resolve(process.env.SEMATIC_UI_OUT || resolve(root, 'dist'));
rmSync(resolve(out, 'assets'), { recursive: true, force: true });
mkdirSync(resolve(out, 'assets'), { recursive: true });
await build({
  entryPoints: { main: resolve(root, 'src/main.tsx') },
  bundle: true,
  splitting: true,
  format: 'esm',
  outdir: resolve(out, 'assets'),
  publicPath: '/assets',
  chunkNames: 'chunk-[hash]',
  minify: !dev,
  sourcemap: dev,
  target: ['chrome100', 'firefox100', 'safari15'],
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.css': 'css' },
  jsx: 'automatic',
  logLevel: 'warning',
  legalComments: 'none',
});
copyFileSync(resolve(root, 'index.html'), resolve(out, 'index.html'));
console.log(`built the dashboard into ${out}`);
