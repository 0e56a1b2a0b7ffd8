// Browser tests of the dashboard against a live scheduler with the fixture steps
// (tests/ui/fixture_steps.cc) on its workers. Env: SEMATIC_URL, SCREENSHOT_DIR, CHROMIUM.
// Prints one line per check; exits non-zero if any fails.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { apiGet, BASE, launch, submit, waitFor, waitJobFinal } from './lib.mjs';

const SHOTS = process.env.SCREENSHOT_DIR || '/tmp/sematic-ui-screenshots';
mkdirSync(SHOTS, { recursive: true });
const T = 30000;  // default bound of one wait in the page

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1500, height: 900 } });
let failures = 0;
const results = [];

async function check(name, fn) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const t0 = Date.now();
  try {
    const detail = await fn(page);
    console.log(`ok   ${name}${detail ? ` — ${detail}` : ''} (${Date.now() - t0} ms)`);
    results.push({ name, ok: true });
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${String(e.message).split('\n')[0]}${errors.length ? ` [page errors: ${errors.join('; ').slice(0, 300)}]` : ''}`);
    results.push({ name, ok: false });
    await shot(page, `fail-${name.slice(0, 2).replace(/\W/g, '')}`).catch(() => {});
  } finally {
    await page.close();
  }
}

async function shot(page, file) {
  await page.screenshot({ path: join(SHOTS, `${file}.png`) });
}

const url = (path) => `${BASE}${path}`;
const rootRun = (job) => job.rootRunId;
const testid = (id) => `[data-testid="${id}"]`;

// One Train at a time (max_parallelism 1) so that the job runs for ~2.5 s: long enough for the
// page to draw before its runs end, so that the check sees states change.
let sweep;
try {
  sweep = await submit('Sweep', { n: { intValue: '5' } }, { maxParallelism: 1 });
} catch (e) {
  console.log(`FAIL setup: ${String(e.message).split('\n')[0]}`);
  await browser.close();
  process.exit(1);
}

await check('a) live DAG: Sweep(5) Train runs appear and reach SUCCEEDED without a reload', async (page) => {
  // Every state each DAG node shows, from the first render on (a MutationObserver in the page).
  await page.addInitScript(() => {
    window.__seen = {};
    window.__navigations = 0;
    const record = () => {
      for (const el of document.querySelectorAll('[data-testid="dag-node"][data-function="Train"]')) {
        const id = el.getAttribute('data-run-id');
        const s = el.getAttribute('data-state');
        const list = (window.__seen[id] ||= []);
        if (list[list.length - 1] !== s) list.push(s);
      }
    };
    new MutationObserver(record).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  });
  await page.goto(url(`/jobs/${sweep.id}`));
  const loadId = await page.evaluate(() => performance.timeOrigin);
  await page.waitForFunction(() => {
    const nodes = document.querySelectorAll('[data-testid="dag-node"][data-function="Train"]');
    return nodes.length === 5 && [...nodes].every((n) => n.getAttribute('data-state') === 'SUCCEEDED');
  }, null, { timeout: T });
  const seen = await page.evaluate(() => window.__seen);
  if ((await page.evaluate(() => performance.timeOrigin)) !== loadId) throw new Error('the page reloaded');
  const changed = Object.values(seen).filter((l) => l.length > 1 && l[l.length - 1] === 'SUCCEEDED').length;
  const ids = Object.keys(seen).length;
  if (ids !== 5) throw new Error(`expected 5 Train nodes, saw ${ids}`);
  if (changed === 0) throw new Error(`no Train node changed state in the page (states seen: ${JSON.stringify(seen)}); the job may have ended before the first render`);
  await page.getByTestId('job-state').and(page.locator('[data-state="JOB_SUCCEEDED"]')).waitFor({ timeout: T });
  await shot(page, 'job-sweep-dag');
  return `${changed} of 5 Train nodes changed state live`;
});

await check('b) sweep metrics: one curve per child (5) and the best row is learning_rate 0.3', async (page) => {
  await page.goto(url(`/jobs/${sweep.id}?run=${rootRun(sweep)}&tab=metrics`));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="sweep-row"]').length === 5 &&
    document.querySelectorAll('[data-testid="metric-chart"][data-series="5"]').length >= 2, null, { timeout: T });
  // What the user sees: every chart's legend lists 5 series besides the x axis.
  const legends = await page.$$eval('[data-testid="metric-chart"]', (els) => els.map((el) => ({
    metric: el.getAttribute('data-metric'),
    series: el.querySelectorAll('.u-legend .u-series').length - 1,
    points: el.getAttribute('data-points'),
  })));
  for (const l of legends) if (l.series !== 5) throw new Error(`chart ${l.metric}: ${l.series} curves in the legend, expected 5`);
  const loss = legends.find((l) => l.metric === 'loss');
  if (!loss || loss.points.split(',').some((n) => Number(n) !== 5)) throw new Error(`loss chart points per curve: ${loss?.points}, expected 5 each`);
  const best = await page.$$eval('[data-testid="sweep-row"][data-best="true"]', (rows) => rows.map((r) =>
    r.querySelector('[data-testid="sweep-input"][data-name="learning_rate"]')?.getAttribute('data-value')));
  if (best.length !== 1) throw new Error(`expected 1 best row, got ${best.length}`);
  if (Math.abs(Number(best[0]) - 0.3) > 1e-9) throw new Error(`best row learning_rate ${best[0]}, expected 0.3`);
  await shot(page, 'run-sweep-metrics');
  return `charts ${legends.map((l) => `${l.metric}:${l.series}`).join(' ')}`;
});

async function outputPage(page, fn, args = {}) {
  const job = await submit(fn, args);
  const done = await waitJobFinal(job.id);
  if (done.state !== 'JOB_SUCCEEDED') throw new Error(`${fn} job ended ${done.state}: ${done.error}`);
  await page.goto(url(`/jobs/${job.id}?run=${rootRun(job)}&tab=output`));
  return job;
}

await check('c) MakeImage: the <img> shows red at (1,4) and blue at (6,4)', async (page) => {
  await outputPage(page, 'MakeImage');
  const img = page.getByTestId('artifact-image');
  await img.waitFor({ timeout: T });
  await page.waitForFunction(() => {
    const el = document.querySelector('[data-testid="artifact-image"]');
    return el && el.complete && el.naturalWidth > 0;
  }, null, { timeout: T });
  const px = await page.evaluate(() => {
    const el = document.querySelector('[data-testid="artifact-image"]');
    const c = document.createElement('canvas');
    c.width = el.naturalWidth; c.height = el.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(el, 0, 0);
    return { size: [c.width, c.height], a: [...ctx.getImageData(1, 4, 1, 1).data], b: [...ctx.getImageData(6, 4, 1, 1).data] };
  });
  const near = (p, q) => p.slice(0, 3).every((v, i) => Math.abs(v - q[i]) <= 2);
  if (!near(px.a, [255, 0, 0])) throw new Error(`pixel (1,4) is ${px.a}, expected red`);
  if (!near(px.b, [0, 0, 255])) throw new Error(`pixel (6,4) is ${px.b}, expected blue`);
  await shot(page, 'run-image-output');
  return `${px.size.join('x')} image, (1,4)=${px.a.slice(0, 3)} (6,4)=${px.b.slice(0, 3)}`;
});

await check('d) MakePlot: vega renders 3 bars', async (page) => {
  await outputPage(page, 'MakePlot');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="plot-container"] svg .mark-rect path').length > 0, null, { timeout: T });
  const bars = await page.$$eval('[data-testid="plot-container"] svg .mark-rect path', (els) => els.length);
  const sceneMarks = await page.getByTestId('plot-view').getAttribute('data-marks');
  if (bars !== 3) throw new Error(`svg has ${bars} bars, expected 3`);
  if (sceneMarks !== '3') throw new Error(`vega's scenegraph has ${sceneMarks} mark items, expected 3`);
  await shot(page, 'run-plot-output');
  return `${bars} svg bars`;
});

await check('e) MakeTable: 4 rows and column stats (score max 1)', async (page) => {
  await outputPage(page, 'MakeTable');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="table-row"]').length === 4, null, { timeout: T });
  const stats = await page.$$eval('[data-testid="column-stats"]', (els) => Object.fromEntries(els.map((e) =>
    [e.getAttribute('data-column'), { max: e.getAttribute('data-max'), distinct: e.getAttribute('data-distinct'), text: e.textContent }])));
  if (Number(stats.score?.max) !== 1) throw new Error(`score max ${stats.score?.max}, expected 1`);
  if (!/max 1\b/.test(stats.score.text)) throw new Error(`score stats read '${stats.score.text}'`);
  if (Number(stats.name?.distinct) !== 4) throw new Error(`name distinct ${stats.name?.distinct}, expected 4`);
  const rows = await page.$$eval('[data-testid="table-row"]', (els) => els.map((e) => e.textContent));
  if (!rows[0].includes('alpha')) throw new Error(`first row '${rows[0]}', expected alpha`);
  await shot(page, 'run-table-output');
  return `score ${stats.score.text}; name ${stats.name.distinct} distinct`;
});

await check('f) Chatty(200, 50): log lines appear while the run is RUNNING', async (page) => {
  const job = await submit('Chatty', { lines: { intValue: '200' }, millis_between: { intValue: '50' } });
  await page.goto(url(`/jobs/${job.id}?run=${rootRun(job)}&tab=logs`));
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="logs"]')?.getAttribute('data-lines')) >= 5, null, { timeout: T });
  const lines = Number(await page.getByTestId('logs').getAttribute('data-lines'));
  const run = await apiGet(`/runs/${rootRun(job)}`);
  const panelState = await page.getByTestId('run-panel').getAttribute('data-state');
  if (run.state !== 'RUNNING') throw new Error(`the run was ${run.state} when ${lines} lines were shown`);
  if (lines >= 200) throw new Error(`all ${lines} lines were there at once`);
  const visible = await page.$$eval('[data-testid="log-line"]', (els) => els.map((e) => e.textContent));
  if (!visible.some((t) => /line \d+ of 200/.test(t))) throw new Error(`no 'line I of 200' visible: ${visible.slice(0, 3)}`);
  await shot(page, 'run-logs-live');
  // It keeps following to the end.
  await page.waitForFunction(() => document.querySelector('[data-testid="logs"]')?.getAttribute('data-lines') === '200', null, { timeout: 30000 });
  const last = await page.$$eval('[data-testid="log-line"]', (els) => els.map((e) => e.textContent).pop());
  if (!/line 200 of 200/.test(last)) throw new Error(`after the end the last visible line is '${last}', expected it to follow to line 200`);
  return `${lines} lines while RUNNING (panel ${panelState}), then 200, following the end`;
});

await check('g) Fails: the run panel shows the error', async (page) => {
  const job = await submit('Fails', { message: { stringValue: 'deliberate failure 42' } });
  await waitJobFinal(job.id);
  await page.goto(url(`/jobs/${job.id}?run=${rootRun(job)}`));
  const err = page.getByTestId('run-error');
  await err.waitFor({ timeout: T });
  const text = await err.textContent();
  if (!text.includes('deliberate failure 42')) throw new Error(`run error reads '${text}'`);
  await page.getByTestId('run-state').and(page.locator('[data-state="FAILED"]')).waitFor({ timeout: T });
  await shot(page, 'run-failed');
  return `'${text.slice(0, 80)}'`;
});

await check('h) WaitForCancel: Cancel makes the job CANCELED', async (page) => {
  const job = await submit('WaitForCancel', {});
  await page.goto(url(`/jobs/${job.id}?run=${rootRun(job)}`));
  await page.locator('[data-testid="run-panel"][data-state="RUNNING"]').waitFor({ timeout: T });
  await page.getByTestId('cancel-job').click();
  await page.locator('[data-testid="job-state"][data-state="JOB_CANCELED"]').waitFor({ timeout: T });
  const j = await waitJobFinal(job.id, 15000);
  if (j.state !== 'JOB_CANCELED') throw new Error(`API says ${j.state}`);
  await shot(page, 'job-canceled');
  return 'page and API say JOB_CANCELED';
});

await check('i) FanOut(10000): one aggregated node counting 10000, in bounded time', async (page) => {
  const job = await submit('FanOut', { n: { intValue: '10000' } });
  const t0 = Date.now();
  await page.goto(url(`/jobs/${job.id}`));
  const node = page.locator('[data-testid="dag-group-node"][data-function="Noop"]');
  await node.waitFor({ timeout: 20000 });
  const firstMs = Date.now() - t0;
  await page.waitForFunction(() => document.querySelector('[data-testid="dag-group-node"][data-function="Noop"]')?.getAttribute('data-count') === '10000', null, { timeout: 90000 });
  const runNodes = await page.$$eval('[data-testid="dag-node"]', (els) => els.length);
  if (runNodes > 50) throw new Error(`${runNodes} single-run nodes drawn; the fan-out should be one node`);
  const text = await node.getByTestId('dag-group-count').textContent();
  if (!text.replace(/\D/g, '').startsWith('10000')) throw new Error(`the node reads '${text}'`);
  await shot(page, 'job-fanout-dag');
  // The live histogram settles on 10000 SUCCEEDED once the job ends.
  await waitJobFinal(job.id, 180000);
  await page.waitForFunction(() => (document.querySelector('[data-testid="dag-group-node"][data-function="Noop"]')?.getAttribute('data-histogram') ?? '').split(',')[6] === '10000', null, { timeout: 30000 });
  await shot(page, 'job-fanout-done');
  return `aggregated node after ${firstMs} ms, reads '${text}'`;
});

await check('j) MakeTensor: dtype, shape, min/max/mean, histogram and heatmap', async (page) => {
  await outputPage(page, 'MakeTensor');
  await page.getByTestId('tensor-heatmap').waitFor({ timeout: T });
  const read = async (id) => (await page.getByTestId(id).textContent()).trim();
  const got = { dtype: await read('tensor-dtype'), shape: await read('tensor-shape'), min: await read('tensor-min'),
    max: await read('tensor-max'), mean: await read('tensor-mean') };
  const want = { dtype: 'float32', shape: '[4, 4]', min: '0', max: '15', mean: '7.5' };
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`tensor view shows ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  // The heatmap's corners: element (0,0) is the minimum (dark), (3,3) the maximum (yellow).
  const px = await page.evaluate(() => {
    const c = document.querySelector('[data-testid="tensor-heatmap"]');
    const d = c.getContext('2d');
    return [[...d.getImageData(0, 0, 1, 1).data], [...d.getImageData(3, 3, 1, 1).data]];
  });
  if (!(px[0][0] < 100 && px[1][0] > 200 && px[1][1] > 200)) throw new Error(`heatmap corners ${JSON.stringify(px)}`);
  await shot(page, 'run-tensor-output');
  return `${JSON.stringify(got)}`;
});

await check('k) lineage, artifact page, figures and an expanded fan-out', async (page) => {
  const best = (await apiGet(`/jobs/${sweep.id}/runs?parent_id=${rootRun(sweep)}&function=Best`)).runs[0];
  await page.goto(url(`/jobs/${sweep.id}?run=${best.id}&tab=lineage`));
  await page.getByTestId('lineage-producer').first().waitFor({ timeout: T });
  const consumers = await page.$$eval('[data-testid="lineage-consumer"]', (e) => e.length);
  await shot(page, 'run-lineage');
  await page.goto(url(`/artifacts/${best.outputDigest}`));
  await page.getByTestId('value-scalar').waitFor({ timeout: T });
  const v = (await page.getByTestId('value-scalar').textContent()).trim();
  if (!v.endsWith('0.9')) throw new Error(`Best's output reads '${v}', expected 0.9`);
  await shot(page, 'artifact');
  await page.goto(url(`/jobs/${sweep.id}?view=figures`));
  await page.locator('[data-testid="fig-row"][data-function="Train"]').waitFor({ timeout: T });
  const runs = (await page.getByTestId('fig-runs').textContent()).trim();
  await shot(page, 'job-sweep-figures');
  const fan = (await apiGet('/jobs?function=FanOut&page_size=1')).jobs[0];
  await page.goto(url(`/jobs/${fan.id}`));
  await page.locator('[data-testid="tree-group"][data-function="Noop"]').click({ timeout: T });
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="tree-group-runs"]')?.getAttribute('data-runs')) >= 500 &&
    document.querySelectorAll('[data-testid="tree-group-runs"] [data-testid="tree-run"]').length > 5, null, { timeout: T });
  // Opening the list does not explode the graph: the fan-out is still one node.
  await page.locator('[data-testid="dag-group-node"][data-function="Noop"]').waitFor({ timeout: T });
  await shot(page, 'job-fanout-expanded');
  return `Best: ${consumers} consumers; figures count ${runs} runs`;
});

await check('l) API errors show as one line in a banner', async (page) => {
  await page.goto(url('/jobs/jffffffffffff'));
  const banner = page.getByTestId('error-banner');
  await banner.waitFor({ timeout: T });
  const text = (await banner.textContent()).trim();
  if (!text.includes('jffffffffffff') || text.includes('\n')) throw new Error(`banner reads '${text}'`);
  await shot(page, 'error-banner');
  return `'${text.slice(0, 80)}'`;
});

await check('screenshots of the list pages', async (page) => {
  await page.goto(url('/'));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="job-row"]').length >= 8, null, { timeout: T });
  await shot(page, 'jobs');
  await page.goto(url('/workers'));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="worker-row"]').length >= 1, null, { timeout: T });
  await shot(page, 'workers');
  await page.goto(url(`/jobs/${sweep.id}?view=timeline`));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="timeline-bar"]').length >= 6, null, { timeout: T });
  await shot(page, 'job-sweep-timeline');
  return `in ${SHOTS}`;
});

await browser.close();
console.log(`${results.length - failures} of ${results.length} checks passed`);
process.exit(failures ? 1 : 0);
