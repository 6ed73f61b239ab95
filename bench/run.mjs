// `npm run bench`: one run in headless Chromium measuring resource-guard next to the JS libraries a
// user would otherwise combine (ky, cockatiel, p-queue, tus-js-client). Prints a summary and
// rewrites BENCHMARKS.md. Numbers only, no pass/fail: every section is independent, and a failing
// section prints its error while the run goes on.
//
//   node bench/run.mjs [--quick] [--only=overhead,throttle,...] [--no-write]
//     --quick   fewer rounds/calls (a smoke run; BENCHMARKS.md is not rewritten unless --write)
//     --only=upload,upload50,upload1m --write   reruns the upload sections and replaces only them
//               in BENCHMARKS.md (each says its own date and commit)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/e2e/server.mjs';
import { launch, CHROMIUM } from '../tests/e2e/browser.mjs';
import { measureSizes } from './sizes.mjs';
import { renderReport } from './report.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const WRITE = argv.includes('--write') || (!QUICK && !argv.includes('--no-write'));
const ONLY = (argv.find((a) => a.startsWith('--only=')) || '').slice(7).split(',').filter(Boolean);
const want = (s) => !ONLY.length || ONLY.includes(s);
const SECTION_TIMEOUT_MS = 240000;

const started = Date.now();
const log = (...a) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a);

function machine() {
  let cpu = 'unknown';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) cpu = m[1].trim();
  } catch {}
  let chromium = 'unknown';
  try {
    chromium = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {}
  const version = (p) => {
    try { return JSON.parse(readFileSync(join(ROOT, 'node_modules', p, 'package.json'), 'utf8')).version; } catch { return '?'; }
  };
  let commit = '?';
  try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(); } catch {}
  let dirty = '';
  try {
    const st = execFileSync('git', ['status', '--porcelain', '--', 'src', 'pkg-template', 'scripts/build.mjs', 'Cargo.toml'], { cwd: ROOT, encoding: 'utf8' });
    dirty = [...new Set(st.split('\n').filter(Boolean).map((l) => l.slice(3).split('/')[0] + (l.slice(3).includes('/') ? '/' : '')))].join(', ');
  } catch {}
  let guardVersion = '?';
  try { guardVersion = JSON.parse(readFileSync(join(ROOT, 'pkg', 'package.json'), 'utf8')).version; } catch {}
  return {
    cpu, cores: cpus().length, memGB: Math.round(totalmem() / 2 ** 30), chromium, node: process.version,
    libs: { 'resource-guard': guardVersion, ky: version('ky'), cockatiel: version('cockatiel'), 'p-queue': version('p-queue'), 'tus-js-client': version('tus-js-client'), esbuild: version('esbuild') },
    date: new Date().toISOString(), commit, dirty, loadavgStart: loadavg()[0],
  };
}

async function section(results, name, fn, timeoutMs = SECTION_TIMEOUT_MS) {
  if (!want(name)) return;
  const t = Date.now();
  log(`${name} …`);
  let timer;
  try {
    results[name] = await Promise.race([
      fn(),
      new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(`section timed out after ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
    log(`${name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } catch (e) {
    const msg = String((e && e.message) || e).split('\n')[0];
    results[name] = { error: msg };
    console.error(`[bench] ${name} FAILED: ${msg}`);
  } finally {
    clearTimeout(timer);
  }
}

async function main() {
  const results = { quick: QUICK };
  results.machine = machine();
  log(`machine: ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.chromium}, node ${results.machine.node}`);

  // Sizes first: they also build bench/www/vendor/, which the page needs.
  await section(results, 'sizes', () => measureSizes(ROOT));

  const server = await startServer();
  let browser;
  try {
    browser = await launch();
    const page = await browser.page();
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) console.error(`[page] ${m.text()}`); });
    const fresh = async () => {
      await page.goto(`${server.url}/bench/bench.html`);
      await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 30000 });
    };
    await fresh();
    // Each section runs in a freshly loaded page: a new wasm instance (its linear memory never
    // shrinks, so the scale section would otherwise see pages grown by earlier sections) and no
    // timers or queues left over from the previous section.
    let first = true;
    const call = async (fn, arg) => {
      if (!first && fn !== 'env' && fn !== 'guardIsActive') await fresh();
      if (fn !== 'env' && fn !== 'guardIsActive') first = false;
      return page.evaluate(([f, a]) => window.bench[f](a), [fn, arg]);
    };

    results.env = await call('env');
    results.machine.chromiumUA = results.env.userAgent;
    try {
      results.guardActive = await call('guardIsActive');
    } catch (e) {
      results.guardActive = { active: false, reason: e.message };
    }
    log(`request guard active: ${results.guardActive.active} (${JSON.stringify(results.guardActive)}); crossOriginIsolated=${results.env.crossOriginIsolated}, timer ${results.env.timerResolutionUs} µs`);

    await section(results, 'overhead', () => call('overheadStub', QUICK ? { rounds: 2, calls: 2000, warmup: 500 } : { rounds: 7, calls: 20000, warmup: 3000 }));
    await section(results, 'network', () => call('overheadNetwork', QUICK ? { rounds: 2, callsPerRound: 30, warmup: 10 } : { rounds: 5, callsPerRound: 100, warmup: 30 }));
    await section(results, 'throttle', () => call('throttle'));
    await section(results, 'retry', () => call('retryAfter'));
    await section(results, 'scale', () => call('scale'));
    await section(results, 'heap', () => call('heapSampling'));
    await section(results, 'upload', () => call('upload', QUICK ? { records: 2000 } : { records: 20000 }));
    // 50 MB of records (~5 KB each): wasm memory must not grow with the data, and no long task.
    await section(results, 'upload50', () => call('upload', QUICK ? { records: 500, batchItems: 100, padBytes: 5000 } : { records: 10000, batchItems: 100, padBytes: 5000 }));
    // A million queued records: JS heap and wasm memory must follow the batches, not the queue.
    await section(results, 'upload1m', () => call('uploadMillion', QUICK ? { records: 50000 } : { records: 1000000 }), 900000);
    if (page.errors.length) results.pageErrors = page.errors.map((e) => String(e)).slice(0, 5);
  } catch (e) {
    results.fatal = String((e && e.message) || e).split('\n')[0];
    console.error(`[bench] browser run failed: ${results.fatal}`);
  } finally {
    await browser?.close().catch(() => {});
    await server.close();
  }
  results.machine.loadavgEnd = loadavg()[0];
  results.durationS = (Date.now() - started) / 1000;

  const { console: text, markdown } = renderReport(results);
  console.log('\n' + text);
  mkdirSync(join(ROOT, 'target'), { recursive: true });
  writeFileSync(join(ROOT, 'target', 'bench-results.json'), JSON.stringify(results, null, 2));
  if (WRITE && ONLY.length && ONLY.every((s) => s.startsWith('upload'))) {
    // Only the upload sections ran: replace those in BENCHMARKS.md, keep the rest as it was.
    const file = join(ROOT, 'BENCHMARKS.md');
    const sections = (md) => md.split(/\n(?=## )/);
    const isUpload = (s) => /^## 7/.test(s);
    const stamp = `_This section: \`node bench/run.mjs --only=${ONLY.join(',')} --write\` on ${results.machine.date} at commit ${results.machine.commit}${results.machine.dirty ? ` plus uncommitted changes in ${results.machine.dirty}` : ''}; load average ${results.machine.loadavgStart} / ${results.machine.loadavgEnd}._`;
    const fresh = sections(markdown).filter(isUpload).map((s) => s.replace(/\n*$/, '') + '\n\n' + stamp + '\n');
    const old = sections(readFileSync(file, 'utf8'));
    const first = old.findIndex(isUpload);
    const kept = old.filter((s) => !isUpload(s));
    kept.splice(first < 0 ? kept.length : first, 0, ...fresh);
    writeFileSync(file, kept.map((s) => s.replace(/\n*$/, '\n')).join('\n'));
    log('BENCHMARKS.md: upload sections replaced; raw results in target/bench-results.json');
  } else if (WRITE) {
    writeFileSync(join(ROOT, 'BENCHMARKS.md'), markdown);
    log('BENCHMARKS.md rewritten; raw results in target/bench-results.json');
  } else {
    log('BENCHMARKS.md left alone (--quick / --no-write); raw results in target/bench-results.json');
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
