// Time to first render of a job page's DAG: from navigation to the first aggregated node
// visible (performance.now() in the page, whose origin is the navigation). Prints JSON.
//   SEMATIC_URL=http://127.0.0.1:7071 node e2e/render_bench.mjs JOB_ID [--runs=5]
// Without JOB_ID it submits FanOut(FANOUT_N, default 10000) first.
import { BASE, launch, submit } from './lib.mjs';

const args = process.argv.slice(2);
const repeat = Number((args.find((a) => a.startsWith('--runs=')) ?? '--runs=3').slice(7));
let jobId = args.find((a) => !a.startsWith('--')) ?? process.env.JOB_ID;
if (!jobId) jobId = (await submit('FanOut', { n: { intValue: String(process.env.FANOUT_N || 10000) } })).id;

const browser = await launch();
const samples = [];
let node = null;
try {
  for (let i = 0; i < repeat; i++) {
    const page = await (await browser.newContext({ viewport: { width: 1500, height: 900 } })).newPage();
    await page.addInitScript(() => {
      const seen = () => {
        const el = document.querySelector('[data-testid="dag-group-node"]');
        if (el && !window.__firstGroup) {
          const r = el.getBoundingClientRect();
          if (r.width > 0 && r.height > 0) window.__firstGroup = performance.now();
        }
      };
      new MutationObserver(seen).observe(document, { subtree: true, childList: true, attributes: true });
    });
    await page.goto(`${BASE}/jobs/${jobId}`);
    const ms = await page.waitForFunction(() => window.__firstGroup, null, { timeout: 60000, polling: 'raf' })
      .then((h) => h.jsonValue());
    node = await page.$eval('[data-testid="dag-group-node"]', (el) => ({
      function: el.getAttribute('data-function'), count: Number(el.getAttribute('data-count')) }));
    samples.push(Math.round(ms * 10) / 10);
    await page.context().close();
  }
} catch (e) {
  console.log(JSON.stringify({ jobId, error: String(e.message).split('\n')[0] }));
  await browser.close();
  process.exit(1);
}
await browser.close();
const sorted = [...samples].sort((a, b) => a - b);
console.log(JSON.stringify({ jobId, node, samplesMs: samples, medianMs: sorted[Math.floor(sorted.length / 2)],
  maxMs: sorted[sorted.length - 1] }));
