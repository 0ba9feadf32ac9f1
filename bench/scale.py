#!/usr/bin/env python3
"""rolegate at two sizes: `make bench-scale` runs this after a release build.

In ONE run, on one fresh database (PostgreSQL by default; BENCH_DB=mysql or
sqlite), the same scenarios at a small and at a large number of users
(BENCH_SCALE_SMALL, default 1000; BENCH_SCALE_USERS, default 1000000),
printed side by side with the ratio large / small:

  * sign-in, sign-up, refresh and GET /api/auth/me with wrk (rate, p50, p99),
    BENCH_SCALE_DURATION seconds each (default 5);
  * the admin reads, one request at a time over one keep-alive connection,
    BENCH_SCALE_REQUESTS each (default 200, after 10 unmeasured): the user
    search by a prefix of a real username, by a substring (no match: `q` is
    a prefix search), by a prefix every user has (count capped), the first
    page, the deepest numbered page, a page 90 % deep by cursor, and the
    audit log's first page (p50, p99);
  * the database's EXPLAIN of each hot query (PostgreSQL EXPLAIN ANALYZE,
    MariaDB ANALYZE, SQLite EXPLAIN QUERY PLAN), so the index is shown.

Users come from `rolegate dev seed` (set-based SQL, a second run continues
after the first): the small scale, then the rest up to the large one.
Bounded: about 4 minutes at a million users on PostgreSQL here.
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base  # noqa: E402  (the load benchmark's helpers)

SMALL = int(os.environ.get("BENCH_SCALE_SMALL", "1000"))
LARGE = int(os.environ.get("BENCH_SCALE_USERS", "1000000"))
REQUESTS = int(os.environ.get("BENCH_SCALE_REQUESTS", "200"))
SEED_PASSWORD = "seeded user password"  # crates/server/src/cli/dev.rs
log = base.log


def seed_users(server, count):
    """`rolegate dev seed` with the server's environment; returns its seconds."""
    started = time.perf_counter()
    out = subprocess.run([str(base.BIN), "dev", "seed", "--users", str(count)], env=server.env,
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"rolegate dev seed failed:\n{out.stdout}\n{out.stderr}")
    log(out.stdout.strip())
    return time.perf_counter() - started


def cursor(list_name, after_id):
    return base64.urlsafe_b64encode(f"{list_name}:{after_id}".encode()).decode().rstrip("=")


def raw_latencies(path, token, n):
    """Milliseconds of `n` sequential GETs over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", base.PORT, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        data = res.read()
        if res.status != 200:
            raise SystemExit(f"GET {path}: HTTP {res.status} {data[:300]!r}")
        times.append((time.perf_counter() - started) * 1000)
    conn.close()
    return times


def latencies(path, token, n=REQUESTS):
    """p50 / p99 ms of `n` sequential GETs over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", base.PORT, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    times, body = [], None
    for i in range(n + 10):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        data = res.read()
        elapsed = (time.perf_counter() - started) * 1000
        if res.status != 200:
            raise SystemExit(f"GET {path}: HTTP {res.status} {data[:300]!r}")
        if i >= 10:
            times.append(elapsed)
        body = data
    conn.close()
    times.sort()
    page = json.loads(body)
    return {
        "p50_ms": times[len(times) // 2],
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
        "items": len(page.get("items", [])),
        "total": f"{page.get('total')}{'+' if page.get('totalCapped') else ''}",
    }


def hot_queries(kind, users, real_prefix):
    """The store's hot queries as SQL (crates/persistence/src/admin/search.rs)."""
    cap = 10_001
    deep = int(users * 0.9)
    if kind == "postgres":
        end = real_prefix[:-1] + chr(ord(real_prefix[-1]) + 1)

        def starts(col):
            return f"(\"{col}\" COLLATE \"C\" >= '{real_prefix}' AND \"{col}\" COLLATE \"C\" < '{end}')"
    elif kind == "mysql":
        def starts(col):
            return f"`{col}` LIKE '{real_prefix}%' ESCAPE '!'"
    else:
        end = real_prefix[:-1] + chr(ord(real_prefix[-1]) + 1)

        def starts(col):
            return f"(\"{col}\" >= '{real_prefix}' AND \"{col}\" < '{end}')"
    name, mail = starts("username_key"), starts("email")
    return [
        ("user search, page", f"SELECT * FROM users WHERE {name} OR {mail} ORDER BY id LIMIT 21"),
        ("user search, capped count",
         f"SELECT COUNT(*) FROM (SELECT * FROM (SELECT id FROM users WHERE {name} LIMIT {cap}) b0 "
         f"UNION SELECT * FROM (SELECT id FROM users WHERE {mail} LIMIT {cap}) b1) capped"),
        ("first page", "SELECT * FROM users ORDER BY id LIMIT 21"),
        ("keyset page 90 % deep", f"SELECT * FROM users WHERE id > {deep} ORDER BY id LIMIT 21"),
        ("deepest numbered page", "SELECT * FROM users ORDER BY id LIMIT 101 OFFSET 10000"),
        ("capped count, all users", f"SELECT COUNT(*) FROM (SELECT * FROM (SELECT id FROM users LIMIT {cap}) b0) capped"),
        ("audit log, first page", "SELECT * FROM audit_events ORDER BY id DESC LIMIT 21"),
        ("audit log, capped count",
         f"SELECT COUNT(*) FROM (SELECT * FROM (SELECT id FROM audit_events ORDER BY id DESC LIMIT {cap}) b0) capped"),
    ]


def explain(kind, url, workdir, queries):
    out = []
    for label, sql in queries:
        if kind == "postgres":
            dbname = url.split("/")[-1].split("?")[0]
            res = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", dbname, "-X", "-q", "-A", "-t",
                                  "-c", "SET plan_cache_mode = force_custom_plan",
                                  "-c", f"EXPLAIN (ANALYZE, COSTS OFF) {sql}"],
                                 capture_output=True, text=True, timeout=120)
            plan = res.stdout + res.stderr
        elif kind == "mysql":
            dbname = url.split("/")[-1]
            res = subprocess.run(["mariadb", "-h", "127.0.0.1", "-uroot", dbname, "-t", "-e", f"ANALYZE {sql}"],
                                 capture_output=True, text=True, timeout=120)
            plan = res.stdout + res.stderr
        else:
            with sqlite3.connect(f"{workdir}/bench.db") as db:
                rows = db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            plan = "\n".join(r[-1] for r in rows)
        out.append(f"-- {label}\n{sql};\n{plan.strip()}\n")
    return "\n".join(out)


def measure(server, users, tokens, refresh_tokens, kind, url, workdir):
    """Every scenario at the current size; returns rows and the EXPLAIN text."""
    rows = {}
    dur = os.environ.get("BENCH_SCALE_DURATION", "5")
    env = dict(os.environ, BENCH_DURATION=dur)
    os.environ["BENCH_DURATION"] = dur
    base.DURATION = int(dur)
    signin_user = f"user{max(1, users // 2)}"
    admin = tokens["bench_admin"]["accessToken"]
    user_token = tokens["bench_user"]["accessToken"]

    def wrk(name, script, path, **kw):
        log(f"{users} users: {name}")
        r = base.wrk(script, path, server, **kw)
        rows[name] = {"rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "non2xx": r["non2xx"]}

    wrk("POST /api/auth/signin", "signin.lua", "/api/auth/signin", connections=16,
        env={"BENCH_USER": signin_user, "BENCH_PASSWORD": SEED_PASSWORD, **env})
    wrk("POST /api/auth/signup", "signup.lua", "/api/auth/signup", connections=16, env=env)
    wrk("POST /api/auth/refreshtoken", "refresh.lua", "/api/auth/refreshtoken", connections=8, threads=8,
        env={"BENCH_REFRESH_TOKENS": ",".join(refresh_tokens), **env})
    wrk("GET /api/auth/me", "get.lua", "/api/auth/me", connections=16, env={"BENCH_TOKEN": user_token, **env})

    real = f"user{max(1, users // 2)}"
    prefix = real[:-1]
    admin_reads = [
        ("users?q=<prefix of a real name: user<N/2> less its last digit>", f"/api/admin/users?q={prefix}"),
        ("users?q=<substring> (example: no match, prefix search)", "/api/admin/users?q=example"),
        ("users?q=user (every user matches)", "/api/admin/users?q=user"),
        ("users, first page", "/api/admin/users"),
        ("users, deepest numbered page (offset 10 000)", "/api/admin/users?page=101&per_page=100"),
        ("users, page 90 % deep by cursor", f"/api/admin/users?cursor={cursor('users', int(users * 0.9))}"),
        ("audit, first page", "/api/admin/audit"),
    ]
    for name, path in admin_reads:
        log(f"{users} users: GET {path}")
        rows[name] = latencies(path, admin)
    plans = explain(kind, url, workdir, hot_queries(kind, users, prefix))
    return rows, plans


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=os.environ.get("BENCH_DB", "postgres"), choices=["sqlite", "mysql", "postgres"])
    parser.add_argument("--out", default=str(base.ROOT / "bench-results" / "scale.md"))
    args = parser.parse_args()
    if LARGE <= SMALL:
        raise SystemExit(f"BENCH_SCALE_USERS ({LARGE}) must be above BENCH_SCALE_SMALL ({SMALL})")
    if not base.BIN.exists():
        raise SystemExit(f"{base.BIN} is missing: run `make bench-scale` (it builds it)")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `make bench-scale` installs it (apt-get install wrk)")

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="rolegate-scale-"))
    url, cleanup = base.database_url(args.db, workdir)
    results, plans, seed_secs = {}, {}, {}
    try:
        server = base.Server(workdir, url)
        server.start()  # creates the schema
        server.stop()
        present = 0
        for users in (SMALL, LARGE):
            # The bench's own users (2) and the sign-ups of the smaller run
            # count as users too; the seed tops up to `users`.
            seed_secs[users] = seed_users(server, users - present)
            server.start()
            tokens = {}
            base.seed(tokens)
            refresh_tokens = []
            for _ in range(8):
                _, body = base.http("POST", "/api/auth/signin", {"username": "bench_user", "password": base.PASSWORD})
                refresh_tokens.append(body["refreshToken"])
            results[users], plans[users] = measure(server, users, tokens, refresh_tokens, args.db, url, workdir)
            server.stop()
            present = users
    finally:
        for s in base.Server.started:
            s.stop()
        if cleanup:
            cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    s, l = results[SMALL], results[LARGE]
    lines = [
        f"Machine: {base.CORES} cores, {os.uname().machine}, {args.db}; {SMALL} and {LARGE} users in one run "
        f"({time.perf_counter() - started:.0f} s in all). Seeding (`rolegate dev seed`): {SMALL} users in "
        f"{seed_secs[SMALL]:.1f} s, {LARGE - SMALL} more in {seed_secs[LARGE]:.1f} s.",
        "",
        "wrk -t2 (refresh -t8), client and server share the cores; admin reads one at a time, "
        f"{REQUESTS} requests each over one keep-alive connection.",
        "",
        f"| scenario | {SMALL}: req/s | p50 ms | p99 ms | {LARGE}: req/s | p50 ms | p99 ms | ratio p99 (large / small) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in s:
        a, b = s[name], l[name]
        rate = lambda r: f"{r['rps']:.0f}" if "rps" in r else f"({r['items']} items, total {r['total']})"
        ratio = b["p99_ms"] / a["p99_ms"] if a["p99_ms"] else float("nan")
        lines.append(f"| {name} | {rate(a)} | {a['p50_ms']:.2f} | {a['p99_ms']:.2f} | {rate(b)} | "
                     f"{b['p50_ms']:.2f} | {b['p99_ms']:.2f} | {ratio:.2f} |")
    lines += ["", f"## Query plans at {LARGE} users ({args.db})", "", "```", plans[LARGE], "```"]
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    log(f"written to {out}")


if __name__ == "__main__":
    main()
