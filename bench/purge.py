#!/usr/bin/env python3
"""Measures the audit retention purge on a seeded PostgreSQL database.

    rolegate dev seed --users 1000000 --age-days 400   # 1 M audit events past a year
    python3 bench/purge.py 'postgres://postgres@127.0.0.1:5432/DB?sslmode=disable'

Starts rolegate (release build, or ROLEGATE_BIN) on the database with
audit.retention_days = 365, so that its purge loop deletes the old events
(1000 per statement, 50 ms apart), and meanwhile reads GET /api/admin/audit
(first page, one request at a time) and the count of old events every
second. Prints the purge's duration and rate and the reads' p50/p99 during
it. Bounded: gives up after BENCH_PURGE_LIMIT seconds (default 900).
"""

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base  # noqa: E402
import scale  # noqa: E402

LIMIT = int(os.environ.get("BENCH_PURGE_LIMIT", "900"))


def old_events(dbname):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", dbname, "-Atc",
                          "SELECT count(*) FROM audit_events WHERE at < now() - interval '365 days'"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def main():
    url = sys.argv[1]
    dbname = url.split("/")[-1].split("?")[0]
    if os.environ.get("ROLEGATE_BIN"):
        base.BIN = Path(os.environ["ROLEGATE_BIN"])
    before = old_events(dbname)
    base.log(f"{before} audit events older than 365 days")
    workdir = Path(tempfile.mkdtemp(prefix="rolegate-purge-"))
    server = base.Server(workdir, url)
    # Not yet: the purge starts at the server's start; sign in the admin first.
    server.env["ROLEGATE__AUTH__PURGE_INTERVAL_SECS"] = "3600"
    server.env["ROLEGATE__AUDIT__RETENTION_DAYS"] = "0"
    server.start()
    tokens = {}
    base.seed(tokens)
    server.stop()
    server.env["ROLEGATE__AUDIT__RETENTION_DAYS"] = "365"
    started = time.perf_counter()
    server.start()
    admin = tokens["bench_admin"]["accessToken"]
    stop = threading.Event()
    samples = []

    def sampled():
        while not stop.is_set():
            try:
                samples.extend(scale.raw_latencies("/api/admin/audit", admin, 50))
            except SystemExit:
                return

    t = threading.Thread(target=sampled, daemon=True)
    t.start()
    left = before
    try:
        while time.perf_counter() - started < LIMIT:
            time.sleep(1)
            left = old_events(dbname)
            if left == 0:
                break
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        t.join(timeout=30)
        server.stop()
    samples.sort()
    deleted = before - left
    p = lambda q: samples[min(len(samples) - 1, int(len(samples) * q))] if samples else float("nan")
    print(f"purged {deleted} of {before} old audit events in {elapsed:.0f} s ({deleted / elapsed:.0f}/s); "
          f"{left} left; GET /api/admin/audit during the purge: {len(samples)} requests, "
          f"p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {p(1.0):.2f} ms")


if __name__ == "__main__":
    main()
