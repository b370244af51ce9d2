#!/usr/bin/python3
"""Stock SQLite clients with and without sqlsteward, side by side.

For each rep and client, runs the same durable write workload (WAL,
synchronous=FULL, BEGIN IMMEDIATE, busy timeout 5000 ms) on a fresh
database in --dir, once stock and once with --ext loaded, alternating which
goes first: with --procs writers at once, and uncontended (1 writer). Needs
scripts/clients to have run. Without --ext only the stock runs are made.
Usage: bench_clients.py [--ext PATH] --dir DIR [--node-modules DIR]
       [--procs 4] [--seconds 5] [--reps 3] [--clients python,node] [--json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKERS = {"python": ["/usr/bin/python3", os.path.join(ROOT, "tests/clients/worker.py")],
           "node": ["node", os.path.join(ROOT, "tests/clients/worker.js")]}
METRICS = ("tps", "p99_us", "max_us", "busy")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ext", help="path of sqlsteward.so; without it only stock runs")
    p.add_argument("--dir", required=True, help="where the databases go (one disk for all)")
    p.add_argument("--node-modules", default=os.path.join(
        ROOT, "build/clients/node-better-sqlite3-12.11.1/node_modules"))
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--clients", default="python,node")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    a.clients = a.clients.split(",")
    for c in a.clients:
        if c not in WORKERS:
            p.error(f"unknown client {c}")
    if "node" in a.clients and not os.path.isdir(os.path.join(a.node_modules, "better-sqlite3")):
        p.error(f"no better-sqlite3 in {a.node_modules}: run scripts/clients")
    return a


def worker(a, client, config, db, *args):
    cmd = WORKERS[client] + ["--db", db, "--journal", "wal", "--sync", "full",
                             "--busy-ms", "5000", "--modules", a.node_modules, *args]
    if config == "ext":
        cmd += ["--ext", a.ext]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout):
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    done = [e for e in lines if e["event"] == "done"]
    if proc.returncode != 0 or not done:
        sys.exit(f"bench_clients: {' '.join(proc.args)} failed ({proc.returncode}):\n{out}{err}")
    return done[0]


def run(a, client, config, procs, rep):
    db = os.path.join(a.dir, f"bench-{client}-{config}-{procs}-{rep}.db")
    files = [db + s for s in ("", "-wal", "-shm", "-journal")]
    for f in files:
        if os.path.exists(f):
            os.unlink(f)
    # One worker creates the table and switches to WAL first: the switch
    # and the CREATE can return SQLITE_BUSY when writers start together.
    finish(worker(a, client, config, db, "--rows", "0"), 60)
    ps = [worker(a, client, config, db, "--seconds", str(a.seconds), "--mode", "immediate",
                 "--tag", f"w{i}") for i in range(procs)]
    done = [finish(p, a.seconds + 120) for p in ps]
    for f in files:
        if os.path.exists(f):
            os.unlink(f)
    lat = [d["latency_us"] for d in done]
    return {"client": client, "procs": procs, "config": config, "rep": rep,
            "acked": sum(d["acked"] for d in done),
            "tps": round(sum(d["acked"] for d in done) / max(d["seconds"] for d in done), 1),
            # No merged histogram: the worst per-process p99 stands for p99.
            "p99_us": max((x["p99"] for x in lat if x["p99"] is not None), default=None),
            "max_us": max((x["max"] for x in lat if x["max"] is not None), default=None),
            "busy": sum(d["errors"].get("SQLITE_BUSY", 0) for d in done),
            "other_errors": sum(n for d in done for c, n in d["errors"].items()
                                if c != "SQLITE_BUSY")}


def summarize(results, configs):
    out = []
    keys = sorted({(r["client"], r["procs"]) for r in results}, key=lambda k: (k[0], -k[1]))
    for client, procs in keys:
        row = {"client": client, "procs": procs}
        for config in configs:
            rs = [r for r in results if (r["client"], r["procs"], r["config"]) ==
                  (client, procs, config)]
            for m in METRICS + ("other_errors",):
                vals = [r[m] for r in rs if r[m] is not None]
                row[f"{config}_{m}"] = {"median": statistics.median(vals) if vals else None,
                                        "min": min(vals, default=None),
                                        "max": max(vals, default=None)}
        if "ext" in configs:
            for m in METRICS:
                s, e = row[f"stock_{m}"]["median"], row[f"ext_{m}"]["median"]
                row[f"ratio_{m}"] = round(e / s, 3) if s and e is not None else None
        out.append(row)
    return out


def print_table(a, summary, configs):
    def cell(v, scale=1, f=".1f"):
        if v["median"] is None:
            return "-"
        return f"{v['median'] / scale:{f}} ({v['min'] / scale:{f}}-{v['max'] / scale:{f}})"
    print(f"{a.seconds:g} s per run, {a.reps} reps, WAL, synchronous=FULL, BEGIN IMMEDIATE, "
          f"busy 5000 ms; median (min-max) over reps.")
    print("p99 = the worst per-process p99 of a run; max = the worst latency of any process.")
    head = f"{'client':7} {'procs':>5} {'config':6} {'tx/s':>26} {'p99 ms':>22} " \
           f"{'max ms':>24} {'busy':>14} {'other err':>10}"
    print(head)
    for row in summary:
        for config in configs:
            g = lambda m: row[f"{config}_{m}"]
            print(f"{row['client']:7} {row['procs']:>5} {config:6} {cell(g('tps')):>26} "
                  f"{cell(g('p99_us'), 1000):>22} {cell(g('max_us'), 1000):>24} "
                  f"{cell(g('busy'), f='g'):>14} {g('other_errors')['max'] or 0:>10}")
        if "ext" in configs:
            r = [row[f"ratio_{m}"] for m in METRICS]
            print(f"{'':7} {'':>5} {'ext/st':6} " + " ".join(
                f"{'-' if x is None else f'{x:.3g}x':>{w}}" for x, w in zip(r, (26, 22, 24, 14))))


def main():
    a = parse_args()
    os.makedirs(a.dir, exist_ok=True)
    configs = ["stock", "ext"] if a.ext else ["stock"]
    if a.ext:
        a.ext = os.path.abspath(a.ext)
    results = []
    for rep in range(a.reps):
        order = configs if rep % 2 == 0 else configs[::-1]
        for client in a.clients:
            for procs in sorted({a.procs, 1}, reverse=True):
                for config in order:
                    results.append(run(a, client, config, procs, rep))
                    if not a.json:
                        r = results[-1]
                        print(f"# rep {rep} {client} {procs} procs {config}: {r['tps']} tx/s",
                              file=sys.stderr, flush=True)
    summary = summarize(results, configs)
    if a.json:
        settings = {k: getattr(a, k) for k in ("ext", "dir", "procs", "seconds", "reps",
                                                "clients")}
        print(json.dumps({"settings": settings, "p99": "worst per-process p99",
                          "summary": summary, "runs": results}, indent=1))
    else:
        print_table(a, summary, configs)


if __name__ == "__main__":
    main()
