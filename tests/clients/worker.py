#!/usr/bin/python3 -u
"""A stock-Python SQLite client for sqlsteward's client tests and benchmark.

Run with Debian's /usr/bin/python3 (the pyenv python3 cannot load
extensions). Same command line and output as worker.js; the contract is in
README.md beside this file. Every stdout line is one JSON object, flushed.
"""
import argparse
import json
import os
import signal
import sqlite3
import sys
import time

CLIENT = "python"


def emit(**obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def codes(e):
    """(primary, extended) SQLite result code names of an exception."""
    ext = getattr(e, "sqlite_errorname", None)
    if ext is None:  # e.g. load_extension's errors carry no code
        ext = "SQLITE_ERROR" if isinstance(e, sqlite3.Error) else type(e).__name__
    parts = ext.split("_")
    primary = "_".join(parts[:2]) if parts[0] == "SQLITE" else ext
    return primary, ext


def percentile(sorted_us, q):
    if not sorted_us:
        return None
    rank = -(-len(sorted_us) * q // 1)  # ceil: nearest-rank percentile
    return sorted_us[max(int(rank), 1) - 1]


def parse_args():
    p = argparse.ArgumentParser(allow_abbrev=False)
    p.add_argument("--db", required=True)
    p.add_argument("--ext")
    p.add_argument("--modules")  # worker.js's; accepted and ignored here
    p.add_argument("--journal", choices=["wal", "delete", "keep"], default="keep")
    p.add_argument("--sync", choices=["full", "normal"])
    p.add_argument("--busy-ms", type=int, default=5000)
    p.add_argument("--tag", default=f"{CLIENT}-{os.getpid()}")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--rows", type=int)
    g.add_argument("--seconds", type=float)
    p.add_argument("--mode", choices=["immediate", "deferred", "autocommit"],
                   default="immediate")
    p.add_argument("--ack")
    p.add_argument("--hold-ms", type=int, default=0)
    p.add_argument("--pause-ms", type=int, default=0)
    p.add_argument("--op", choices=["write", "open", "status", "count", "check"],
                   default="write")
    a = p.parse_args()
    if a.rows is None and a.seconds is None:
        a.rows = 100
    if a.op == "check" and not a.ack:
        p.error("--op check needs --ack FILE")
    if a.op == "status" and not a.ext:
        p.error("--op status needs --ext")
    # Created before the database is opened: an ack file that exists but is
    # empty means the writer started and acknowledged nothing.
    a.ack_fd = None
    if a.op == "write" and a.ack:
        try:
            a.ack_fd = os.open(a.ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as e:
            p.error(f"--ack: {e}")
    return a


def open_db(a):
    if a.ext:
        try:
            mem = sqlite3.connect(":memory:")
            mem.enable_load_extension(True)
            mem.load_extension(a.ext)
            mem.close()
        except sqlite3.Error as e:
            code, ext = codes(e)
            emit(event="load_failed", code=code, extended=ext, message=str(e))
            sys.exit(4)
    step = "open"
    try:
        conn = sqlite3.connect(a.db, timeout=a.busy_ms / 1000, isolation_level=None)
        pragma = {"wal": "PRAGMA journal_mode=WAL", "delete": "PRAGMA journal_mode=DELETE",
                  "keep": "PRAGMA journal_mode"}[a.journal]
        step = "journal"
        mode = conn.execute(pragma).fetchone()[0]
        step = "sync"
        if a.sync:
            conn.execute(f"PRAGMA synchronous={a.sync.upper()}")
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
        step = "create"
        if a.op == "write" and not conn.execute(
                "SELECT count(*) FROM sqlite_schema WHERE name = 't'").fetchone()[0]:
            # Under the write lock: a deferred CREATE could fail with
            # SQLITE_BUSY_SNAPSHOT when several workers start together.
            # Skipped when t exists, so that setup needs no write lock.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, "
                         "tag TEXT NOT NULL, seq INTEGER NOT NULL, UNIQUE(tag, seq))")
            conn.execute("COMMIT")
        version = conn.execute("SELECT sqlite_version()").fetchone()[0]
    except sqlite3.Error as e:
        code, ext = codes(e)
        emit(event="open_failed", step=step, code=code, extended=ext, message=str(e))
        sys.exit(3)
    emit(event="ready", pid=os.getpid(), journal_mode=mode, synchronous=sync,
         sqlite_version=version,
         client=CLIENT, tag=a.tag, op=a.op)
    return conn


def write(a, conn):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    begin = {"immediate": "BEGIN IMMEDIATE", "deferred": "BEGIN", "autocommit": None}[a.mode]
    errors, latencies = {}, []
    acked = seq = 0
    start = time.monotonic()
    while not stop:
        if a.rows is not None and seq >= a.rows:
            break
        if a.seconds is not None and time.monotonic() - start >= a.seconds:
            break
        t0 = time.perf_counter_ns()
        try:
            if begin:
                conn.execute(begin)
                if a.mode == "deferred":
                    conn.execute("SELECT count(*) FROM t").fetchone()
            conn.execute("INSERT INTO t(tag, seq) VALUES(?, ?)", (a.tag, seq))
            if begin:
                if a.hold_ms:
                    time.sleep(a.hold_ms / 1000)
                conn.execute("COMMIT")
            latencies.append((time.perf_counter_ns() - t0) // 1000)
            acked += 1
            if a.ack_fd is not None:
                os.write(a.ack_fd, f"{seq}\n".encode())
        except sqlite3.Error as e:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            code, ext = codes(e)
            errors[code] = errors.get(code, 0) + 1
            if errors[code] <= 5:
                emit(event="error", seq=seq, code=code, extended=ext, message=str(e))
        seq += 1
        if a.pause_ms and not stop:
            time.sleep(a.pause_ms / 1000)
    latencies.sort()
    emit(event="done", acked=acked, attempted=seq, errors=errors,
         latency_us={"p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99),
                     "max": latencies[-1] if latencies else None},
         seconds=round(time.monotonic() - start, 3))
    return 0


def check(a, conn):
    with open(a.ack) as f:
        want = sorted({int(line) for line in f if line.strip()})
    have = {r[0] for r in conn.execute("SELECT seq FROM t WHERE tag = ?", (a.tag,))}
    missing = [s for s in want if s not in have]
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    emit(event="check", acked=len(want), missing=len(missing), missing_first=missing[:10],
         rows_for_tag=len(have), integrity=integrity)
    return 0 if not missing and integrity == "ok" else 1


def main():
    a = parse_args()
    conn = open_db(a)
    try:
        if a.op == "write":
            rc = write(a, conn)
        elif a.op == "open":
            rc = 0
        elif a.op == "status":
            version, status = conn.execute(
                "SELECT sqlsteward_version(), sqlsteward_status()").fetchone()
            emit(event="status", version=version, status=json.loads(status))
            rc = 0
        elif a.op == "count":
            rows = conn.execute("SELECT count(*) FROM t").fetchone()[0]
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            emit(event="count", rows=rows, integrity=integrity)
            rc = 0
        else:
            rc = check(a, conn)
    except (sqlite3.Error, ValueError, OSError) as e:
        code, ext = codes(e)
        emit(event="error", seq=None, code=code, extended=ext, message=str(e))
        rc = 1
    conn.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
