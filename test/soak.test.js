'use strict';
// The soak (bench/soak.js): its trend detector on synthetic series, and a
// 20-second run that must pass and write a sane CSV and SVG. Also checks that
// loadgen --tls validates against our wss:// server with the test CA.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { runChild } = require('./helpers');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { trend } = require('../bench/soak');

const MiB = 1024 * 1024;
const RSS = { floor: 8 * MiB, rel: 0.05 };

// A deterministic noise source (the test must not pass or fail by chance).
function noise(seed) {
  let x = seed >>> 0;
  return () => { x = (x * 1664525 + 1013904223) >>> 0; return x / 2 ** 32 - 0.5; };
}

test('trend: a flat noisy series passes', () => {
  const r = noise(1);
  const t = Array.from({ length: 1500 }, (_, i) => i);
  const y = t.map(() => 100 * MiB + 6 * MiB * r());
  const v = trend(t, y, RSS);
  assert.equal(v.rising, false, v.reason);
});

test('trend: a step early in the window that then stays flat passes', () => {
  const r = noise(2);
  const t = Array.from({ length: 1500 }, (_, i) => i);
  const y = t.map((i) => 100 * MiB + (i > 200 ? 12 * MiB : 0) + 2 * MiB * r());
  assert.equal(trend(t, y, RSS).rising, false);
});

test('trend: slow linear growth fails', () => {
  const r = noise(3);
  const t = Array.from({ length: 1500 }, (_, i) => i);
  const y = t.map((i) => 100 * MiB + i * 20 * 1024 + 4 * MiB * r()); // 20 KiB/s: 29 MiB over 25 minutes
  const v = trend(t, y, RSS);
  assert.equal(v.rising, true, v.reason);
  assert.match(v.reason, /rises/);
});

test('trend: connection counts wobbling with churn pass; a connection leak fails', () => {
  const r = noise(4);
  const t = Array.from({ length: 600 }, (_, i) => i);
  assert.equal(trend(t, t.map(() => 190 + Math.round(5 * (r() + 0.5))), { floor: 7, rel: 0.02 }).rising, false);
  assert.equal(trend(t, t.map((i) => 190 + Math.floor(i / 30)), { floor: 7, rel: 0.02 }).rising, true);
});

const run = runChild;

test('a 20-second soak passes and writes its CSV, SVG and summary', { timeout: 90000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'soak-test-'));
  try {
    const r = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'soak.js'), '--seconds', '20', '--warmup', '5', '--out', out], 80000);
    assert.equal(r.code, 0, `soak exited ${r.code} ${r.signal || ''}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /soak: PASS/);
    const lines = fs.readFileSync(path.join(out, 'soak.csv'), 'utf8').trim().split('\n');
    const head = lines[0].split(',');
    assert.deepEqual(head.slice(0, 2), ['t_s', 'rss_bytes']);
    for (const k of ['queued_bytes', 'connections_open', 'sockets_open']) assert.ok(head.includes(k), k);
    assert.ok(lines.length >= 18, `one row a second: ${lines.length - 1} rows`);
    const rows = lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [head[i], Number(v)])));
    assert.ok(rows.every((x) => x.rss_bytes > 10 * MiB && x.rss_bytes < 4096 * MiB), 'RSS in a sane range');
    const mid = rows[Math.floor(rows.length / 2)];
    assert.ok(mid.connections_open >= 190, `the generators' connections are open mid-run: ${mid.connections_open}`);
    assert.equal(rows[rows.length - 1].connections_open, 0, 'all closed at the end');
    const svg = fs.readFileSync(path.join(out, 'soak.svg'), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.equal((svg.match(/<polyline /g) || []).length, 8, 'one line per series');
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.equal(summary.pass, true);
    assert.equal(summary.generators.length, 6);
    for (const g of summary.generators) assert.ok(g.ok && g.msgs > 0, `${g.name}: ${g.error}`);
    const tls = summary.generators.find((g) => g.name === 'echo-tls');
    assert.equal(tls.result.tls, '1');
    assert.equal(tls.result.tls_verified, '1', 'verified against the test CA');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('soak refuses a bad option, naming it', async () => {
  const r = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'soak.js'), '--seconds', 'x'], 10000);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--seconds: bad value "x"/);
});

test('soak --only refuses an unknown generator, naming it and the known ones', async () => {
  const r = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'soak.js'), '--seconds', '10', '--only', 'echo,nope'], 10000);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--only: unknown generator "nope" \(known: echo, echo-tls, echo-deflate, broadcast, churn, churn-tls\)/);
});

test('soak --only runs just the named generators', { timeout: 60000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'soak-test-'));
  try {
    const r = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'soak.js'), '--seconds', '8', '--warmup', '2', '--only', 'churn-tls', '--out', out], 50000);
    assert.equal(r.code, 0, `soak exited ${r.code} ${r.signal || ''}\n${r.stdout}\n${r.stderr}`);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.deepEqual(summary.generators.map((g) => g.name), ['churn-tls']);
    assert.ok(summary.generators[0].ok && summary.generators[0].msgs > 0, summary.generators[0].error);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
