#!/usr/bin/env node
// A stock better-sqlite3 client for sqlsteward's client tests and benchmark.
// Same command line and output as worker.py; the contract is in README.md
// beside this file. Finds better-sqlite3 through --modules DIR, else
// NODE_PATH, else scripts/clients' default build/clients. Every stdout line
// is one JSON object (stdout to a pipe or file is synchronous on Linux).
'use strict';
const fs = require('fs');
const path = require('path');

const CLIENT = 'node';
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const usage = (msg) => {
  process.stderr.write(`worker.js: ${msg}\n`);
  process.exit(2);
};

function parseArgs(argv) {
  const choices = {
    journal: ['wal', 'delete', 'keep'], sync: ['full', 'normal'],
    mode: ['immediate', 'deferred', 'autocommit'],
    op: ['write', 'open', 'status', 'count', 'check'],
  };
  const ints = ['busy-ms', 'rows', 'hold-ms', 'pause-ms'];
  const known = ['db', 'ext', 'modules', 'tag', 'seconds', 'ack',
    ...ints, ...Object.keys(choices)];
  const a = { journal: 'keep', 'busy-ms': 5000, tag: `${CLIENT}-${process.pid}`,
    mode: 'immediate', 'hold-ms': 0, 'pause-ms': 0, op: 'write' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    const val = argv[i + 1];
    if (!argv[i].startsWith('--') || !known.includes(key)) usage(`unknown argument ${argv[i]}`);
    if (val === undefined) usage(`${argv[i]} needs a value`);
    if (choices[key] && !choices[key].includes(val)) usage(`bad ${argv[i]} ${val}`);
    if (ints.includes(key) && !/^-?\d+$/.test(val)) usage(`${argv[i]} needs an integer`);
    if (key === 'seconds' && Number.isNaN(Number(val))) usage('--seconds needs a number');
    a[key] = ints.includes(key) ? Number(val) : key === 'seconds' ? Number(val) : val;
  }
  if (!a.db) usage('--db is required');
  if (a.rows !== undefined && a.seconds !== undefined) usage('--rows and --seconds exclude each other');
  if (a.rows === undefined && a.seconds === undefined) a.rows = 100;
  if (a.op === 'check' && !a.ack) usage('--op check needs --ack FILE');
  if (a.op === 'status' && !a.ext) usage('--op status needs --ext');
  // Created before the database is opened: an ack file that exists but is
  // empty means the writer started and acknowledged nothing.
  a.ackFd = null;
  if (a.op === 'write' && a.ack) {
    try { a.ackFd = fs.openSync(a.ack, 'a'); } catch (e) { usage(`--ack: ${e.message}`); }
  }
  return a;
}

function loadBetterSqlite3(modules) {
  const fallback = path.join(__dirname, '../../build/clients/node-better-sqlite3-12.11.1',
    'node_modules/better-sqlite3');
  for (const name of modules ? [path.resolve(modules, 'better-sqlite3')]
    : ['better-sqlite3', fallback]) {
    try { return require(name); } catch (e) { if (e.code !== 'MODULE_NOT_FOUND') throw e; }
  }
  return usage(`cannot find better-sqlite3 (--modules, NODE_PATH or ${fallback});`
    + ' run scripts/clients');
}

// [primary, extended] SQLite result code names of an exception.
function codes(e) {
  const ext = typeof e.code === 'string' && e.code.startsWith('SQLITE_') ? e.code : e.name;
  return [ext.startsWith('SQLITE_') ? ext.split('_').slice(0, 2).join('_') : ext, ext];
}

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.max(Math.ceil(sorted.length * q), 1) - 1] : null;
}

function openDb(Database, a) {
  if (a.ext) {
    try {
      const mem = new Database(':memory:');
      mem.loadExtension(a.ext);
      mem.close();
    } catch (e) {
      const [code, extended] = codes(e);
      emit({ event: 'load_failed', code, extended, message: e.message });
      process.exit(4);
    }
  }
  let db, mode, sync, version;
  let step = 'open';
  try {
    db = new Database(a.db, { timeout: a['busy-ms'] });
    const pragma = { wal: 'journal_mode=WAL', delete: 'journal_mode=DELETE', keep: 'journal_mode' };
    step = 'journal';
    mode = db.pragma(pragma[a.journal], { simple: true });
    step = 'sync';
    if (a.sync) db.pragma(`synchronous=${a.sync.toUpperCase()}`);
    sync = db.pragma('synchronous', { simple: true });
    step = 'create';
    if (a.op === 'write'
      && !db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 't'").pluck().get()) {
      // Under the write lock: a deferred CREATE could fail with
      // SQLITE_BUSY_SNAPSHOT when several workers start together.
      // Skipped when t exists, so that setup needs no write lock.
      db.exec('BEGIN IMMEDIATE');
      db.exec('CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, '
        + 'tag TEXT NOT NULL, seq INTEGER NOT NULL, UNIQUE(tag, seq))');
      db.exec('COMMIT');
    }
    version = db.prepare('SELECT sqlite_version()').pluck().get();
  } catch (e) {
    const [code, extended] = codes(e);
    emit({ event: 'open_failed', step, code, extended, message: e.message });
    process.exit(3);
  }
  emit({ event: 'ready', pid: process.pid, journal_mode: mode, synchronous: sync,
    sqlite_version: version,
    client: CLIENT, tag: a.tag, op: a.op });
  return db;
}

async function write(a, db) {
  let stop = false;
  process.on('SIGTERM', () => { stop = true; });
  const begin = { immediate: 'BEGIN IMMEDIATE', deferred: 'BEGIN', autocommit: null }[a.mode];
  const insert = db.prepare('INSERT INTO t(tag, seq) VALUES(?, ?)');
  const count = db.prepare('SELECT count(*) FROM t').pluck();
  const errors = {};
  const latencies = [];
  let acked = 0;
  let seq = 0;
  const start = performance.now();
  while (!stop) {
    if (a.rows !== undefined && seq >= a.rows) break;
    if (a.seconds !== undefined && performance.now() - start >= a.seconds * 1000) break;
    const t0 = process.hrtime.bigint();
    try {
      if (begin) {
        db.exec(begin);
        if (a.mode === 'deferred') count.get();
      }
      insert.run(a.tag, seq);
      if (begin) {
        if (a['hold-ms']) await sleep(a['hold-ms']);
        db.exec('COMMIT');
      }
      latencies.push(Number((process.hrtime.bigint() - t0) / 1000n));
      acked += 1;
      if (a.ackFd !== null) fs.writeSync(a.ackFd, `${seq}\n`);
    } catch (e) {
      if (db.inTransaction) {
        try { db.exec('ROLLBACK'); } catch (_) { /* ignored */ }
      }
      const [code, extended] = codes(e);
      errors[code] = (errors[code] || 0) + 1;
      if (errors[code] <= 5) emit({ event: 'error', seq, code, extended, message: e.message });
    }
    seq += 1;
    // Yield to the event loop so a SIGTERM is seen between transactions.
    if (a['pause-ms'] && !stop) await sleep(a['pause-ms']);
    else await new Promise(setImmediate);
  }
  latencies.sort((x, y) => x - y);
  emit({ event: 'done', acked, attempted: seq, errors,
    latency_us: { p50: percentile(latencies, 0.50), p99: percentile(latencies, 0.99),
      max: latencies.length ? latencies[latencies.length - 1] : null },
    seconds: Math.round(performance.now() - start) / 1000 });
  return 0;
}

function check(a, db) {
  const want = [...new Set(fs.readFileSync(a.ack, 'utf8').split('\n')
    .filter((l) => l.trim()).map((l) => {
      if (!/^\s*-?\d+\s*$/.test(l)) throw new Error(`bad line in ${a.ack}: ${l}`);
      return Number(l);
    }))].sort((x, y) => x - y);
  const have = new Set(db.prepare('SELECT seq FROM t WHERE tag = ?').pluck().all(a.tag));
  const missing = want.filter((s) => !have.has(s));
  const integrity = db.pragma('integrity_check', { simple: true });
  emit({ event: 'check', acked: want.length, missing: missing.length,
    missing_first: missing.slice(0, 10), rows_for_tag: have.size, integrity });
  return missing.length === 0 && integrity === 'ok' ? 0 : 1;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const db = openDb(loadBetterSqlite3(a.modules), a);
  let rc = 0;
  try {
    if (a.op === 'write') rc = await write(a, db);
    else if (a.op === 'status') {
      const row = db.prepare('SELECT sqlsteward_version() v, sqlsteward_status() s').get();
      emit({ event: 'status', version: row.v, status: JSON.parse(row.s) });
    } else if (a.op === 'count') {
      const rows = db.prepare('SELECT count(*) FROM t').pluck().get();
      emit({ event: 'count', rows, integrity: db.pragma('integrity_check', { simple: true }) });
    } else if (a.op === 'check') rc = check(a, db);
  } catch (e) {
    const [code, extended] = codes(e);
    emit({ event: 'error', seq: null, code, extended, message: e.message });
    rc = 1;
  }
  db.close();
  process.exit(rc);
}

main();
