// The typecheck (tsc --noEmit, strict) and the unit tests of the pure logic (test/*.test.ts),
// bundled by esbuild for node and run by node --test.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.env.SEMATIC_UI_TEST_OUT || join(root, 'build-test'));
const tests = readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.ts')).sort();
if (!tests.length) {
  console.error(`no tests in ${join(root, 'test')}`);
  process.exit(1);
}
// Types first: the bundler does not check them.
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('ui typecheck failed (tsc --noEmit)');
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: tests.map((f) => join(root, 'test', f)),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18',
  outdir: out,
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
  // dagre is CommonJS; a require shim lets the ESM bundle load its dependencies.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
const files = tests.map((f) => join(out, f.replace(/\.ts$/, '.mjs')));
const r = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
