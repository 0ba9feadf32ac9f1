#!/usr/bin/env python3
"""rolegate's load benchmark: `make bench` runs this after a release build.

Starts target/release/rolegate on a fresh database (SQLite by default; MariaDB
or PostgreSQL with --db), seeds users, drives load over loopback with wrk, and
prints a Markdown table in which every figure stands next to a reference
measured in the same run:

  * guarded routes as a ratio of the public route's throughput (same server);
  * sign-in / sign-up as a ratio of the raw argon2id rate on this machine
    (crates/auth/benches/argon2.rs: verifications/s per core x cores);
  * the public and guarded routes as a ratio of the machine's limit: a bare
    actix-web server (bench/bare) answering the public route's body, measured
    before and after rolegate in the same run (their mean is the reference).

Bounded: each scenario runs BENCH_DURATION seconds (default 8); a full run
takes about three minutes. Loopback only.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release" / "rolegate"
BARE_BIN = BIN.parent / "bench-bare"
WRK_DIR = ROOT / "bench" / "wrk"
PORT = int(os.environ.get("BENCH_PORT", "18080"))
BASE = f"http://127.0.0.1:{PORT}"
DURATION = int(os.environ.get("BENCH_DURATION", "8"))
CORES = os.cpu_count() or 1
PASSWORD = "bench password 123"


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def http(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def rss_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(pid):
    # Writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS.
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


class Server:
    started = []

    def __init__(self, workdir, db_url, key_file=None):
        self.env = dict(os.environ)
        self.env.update({
            "ROLEGATE_ENV": "development",
            "ROLEGATE_CONFIG_DIR": str(ROOT / "config"),
            "ROLEGATE__SERVER__PORT": str(PORT),
            "ROLEGATE__DATABASE__URL": db_url,
            "ROLEGATE__DATA__DIR": str(workdir),
            "ROLEGATE__AUTH__OPEN_ROLE_SIGNUP": "true",
            "ROLEGATE__AUTH__JWT_SECRET": "bench-secret-bench-secret-bench-secret-0123",
            "ROLEGATE__LOG__LEVEL": "error",
            # Load from one address is the point here, not abuse.
            "ROLEGATE__RATE_LIMIT__SIGNUP_PER_CLIENT": "100000000",
            # Sign-ins per address and per account (all, not only failures)
            # are limited since round 2: lift them, or the bench measures 429s.
            "ROLEGATE__RATE_LIMIT__SIGNIN_PER_CLIENT": "100000000",
            "ROLEGATE__RATE_LIMIT__SIGNIN_PER_ACCOUNT": "100000000",
            # The sign-in scenario opens thousands of sessions for one user;
            # with the session cap they would revoke the refresh scenario's.
            "ROLEGATE__AUTH__MAX_SESSIONS_PER_USER": "0",
            # signin.lua names a client address per request in X-Forwarded-For.
            "ROLEGATE__RATE_LIMIT__TRUSTED_PROXIES": "127.0.0.1",
            "ROLEGATE__RATE_LIMIT__REFRESH_PER_CLIENT": "100000000",
        })
        if key_file:
            self.env["ROLEGATE__AUTH__KEY_FILES"] = str(key_file)
        self.proc = None

    def start(self):
        """Starts the server; returns milliseconds until /healthz answers."""
        started = time.perf_counter()
        Server.started.append(self)
        # The log goes to a file: an unread pipe fills up and stalls the server.
        self.log_path = Path(self.env["ROLEGATE__DATA__DIR"]) / "server.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(BIN), "serve"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = started + 30
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"rolegate exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(BASE + "/healthz", timeout=0.5):
                    return (time.perf_counter() - started) * 1000
            except OSError:
                time.sleep(0.002)
        raise SystemExit("rolegate did not become ready within 30 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self):
        return self.proc.pid


class Bare:
    """bench/bare: actix-web alone, on the same port as rolegate."""

    def __init__(self):
        self.proc = None

    def start(self):
        Server.started.append(self)
        self.proc = subprocess.Popen([str(BARE_BIN), str(PORT)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("bench-bare exited")
            try:
                with urllib.request.urlopen(BASE + "/healthz", timeout=0.5):
                    return
            except OSError:
                time.sleep(0.002)
        raise SystemExit("bench-bare did not become ready within 30 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)

    @property
    def pid(self):
        return self.proc.pid


def wrk(script, path, server, connections=64, threads=2, env=None):
    """Runs one wrk scenario; returns its figures and the server's peak RSS."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write((WRK_DIR / script).read_text())
        f.write("\n")
        f.write((WRK_DIR / "report.lua").read_text())
        lua = f.name
    run_env = dict(os.environ)
    run_env.update(env or {})
    reset_peak(server.pid)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{DURATION}s", "--timeout", "10s",
         "-s", lua, BASE + path],
        env=run_env, capture_output=True, text=True, timeout=DURATION + 60)
    os.unlink(lua)
    m = re.search(r"^RESULT (.*)$", out.stdout, re.M)
    if not m:
        raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    seconds = r["duration_us"] / 1e6
    ok = r["requests"] - r["non2xx"]
    return {
        "rps": ok / seconds,
        "requests": r["requests"],
        "non2xx": r["non2xx"],
        "socket_errors": r["socket_errors"],
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "peak_rss_mib": rss_kib(server.pid, "VmHWM") / 1024,
        "connections": connections,
    }


def argon2_rate():
    """Verifications/s per core, from the micro-benchmark in crates/auth/benches."""
    out = subprocess.run(["cargo", "bench", "-q", "-p", "rolegate-auth", "--bench", "argon2"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    m = re.search(r"argon2id_verify_per_sec_per_core=([\d.]+)", out.stdout)
    if not m:
        raise SystemExit(f"argon2 micro-benchmark failed:\n{out.stdout}\n{out.stderr}")
    all_cores = re.search(r"argon2id_verify_per_sec_all_cores=([\d.]+)", out.stdout)
    return float(m.group(1)), float(all_cores.group(1)) if all_cores else None


def database_url(kind, workdir):
    if kind == "sqlite":
        return f"sqlite://{workdir}/bench.db?mode=rwc", None
    name = f"rolegate_bench_{os.getpid()}"
    if kind == "mysql":
        admin = os.environ.get("ROLEGATE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
        subprocess.run(["mariadb", "-h", "127.0.0.1", "-uroot", "-e",
                        f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4"], check=True)
        return f"{admin}/{name}", lambda: subprocess.run(
            ["mariadb", "-h", "127.0.0.1", "-uroot", "-e", f"DROP DATABASE IF EXISTS {name}"])
    if kind == "postgres":
        psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
        subprocess.run(psql + [f"DROP DATABASE IF EXISTS {name}"], check=True)
        subprocess.run(psql + [f"CREATE DATABASE {name}"], check=True)
        return (f"postgres://postgres@127.0.0.1:5432/{name}?sslmode=disable",
                lambda: subprocess.run(psql + [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]))
    raise SystemExit(f"unknown --db {kind}")


def seed(server_tokens):
    for name, roles in [("bench_user", ["user"]), ("bench_admin", ["user", "admin"])]:
        status, _ = http("POST", "/api/auth/signup",
                         {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "roles": roles})
        if status not in (201, 409):
            raise SystemExit(f"seeding {name}: HTTP {status}")
    for name in ("bench_user", "bench_admin"):
        status, body = http("POST", "/api/auth/signin", {"username": name, "password": PASSWORD})
        if status != 200:
            raise SystemExit(f"signing in {name}: HTTP {status}")
        server_tokens[name] = body


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=os.environ.get("BENCH_DB", "sqlite"), choices=["sqlite", "mysql", "postgres"])
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "latest.md"))
    args = parser.parse_args()
    for binary in (BIN, BARE_BIN):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run `make bench` (it builds it)")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `make bench` installs it (apt-get install wrk)")

    log("argon2id micro-benchmark")
    per_core, all_cores = argon2_rate()
    hash_capacity = per_core * CORES

    rows = []
    bare_runs = []

    def bare(label):
        log(f"bare actix-web ({label})")
        b = Bare()
        b.start()
        r = wrk("get.lua", "/api/test/all", b)
        b.stop()
        r["name"] = f"GET /api/test/all (bare actix-web, {label})"
        r["ref"] = None
        rows.append(r)
        bare_runs.append(r["rps"])

    workdir = Path(tempfile.mkdtemp(prefix="rolegate-bench-"))
    url, cleanup = database_url(args.db, workdir)
    try:
        bare("before rolegate")
        # Phase 1: HS256. First start creates the schema; the second measures
        # start-to-ready on an existing database.
        server = Server(workdir, url)
        server.start()
        server.stop()
        ready_ms = server.start()
        time.sleep(1.0)
        idle_rss = rss_kib(server.pid, "VmRSS") / 1024
        tokens = {}
        seed(tokens)
        refresh_tokens = []
        for _ in range(8):
            _, body = http("POST", "/api/auth/signin", {"username": "bench_user", "password": PASSWORD})
            refresh_tokens.append(body["refreshToken"])

        def scenario(name, script, path, ref=None, vs_bare=False, **kw):
            log(name)
            r = wrk(script, path, server, **kw)
            r["name"] = name
            r["ref"] = ref
            r["vs_bare"] = vs_bare
            rows.append(r)
            return r

        public = scenario("GET /api/test/all (public)", "get.lua", "/api/test/all", vs_bare=True)
        scenario("GET /api/test/user (HS256)", "get.lua", "/api/test/user", ref=("public", public["rps"]),
                 vs_bare=True, env={"BENCH_TOKEN": tokens["bench_user"]["accessToken"]})
        scenario("GET /api/test/admin (HS256)", "get.lua", "/api/test/admin", ref=("public", public["rps"]),
                 vs_bare=True, env={"BENCH_TOKEN": tokens["bench_admin"]["accessToken"]})
        scenario("POST /api/auth/signin", "signin.lua", "/api/auth/signin", ref=("argon2", hash_capacity),
                 connections=16, env={"BENCH_USER": "bench_user", "BENCH_PASSWORD": PASSWORD})
        scenario("POST /api/auth/signup", "signup.lua", "/api/auth/signup", ref=("argon2", hash_capacity),
                 connections=16)
        scenario("POST /api/auth/refreshtoken", "refresh.lua", "/api/auth/refreshtoken",
                 connections=8, threads=8, env={"BENCH_REFRESH_TOKENS": ",".join(refresh_tokens)})
        scenario("1000 concurrent sign-ins", "signin.lua", "/api/auth/signin", ref=("argon2", hash_capacity),
                 connections=1000, env={"BENCH_USER": "bench_user", "BENCH_PASSWORD": PASSWORD})
        server.stop()

        # Phase 2: EdDSA, on a key made for this run.
        key = workdir / "ed25519.pem"
        subprocess.run([str(BIN), "keys", "generate", "--out", str(key)], check=True, capture_output=True)
        server = Server(workdir, url, key_file=key)
        server.start()
        tokens = {}
        seed(tokens)
        public_ed = scenario("GET /api/test/all (public, EdDSA server)", "get.lua", "/api/test/all",
                             vs_bare=True)
        scenario("GET /api/test/user (EdDSA)", "get.lua", "/api/test/user", ref=("public", public_ed["rps"]),
                 vs_bare=True, env={"BENCH_TOKEN": tokens["bench_user"]["accessToken"]})
        scenario("GET /api/test/admin (EdDSA)", "get.lua", "/api/test/admin", ref=("public", public_ed["rps"]),
                 env={"BENCH_TOKEN": tokens["bench_admin"]["accessToken"]})
        server.stop()
        bare("after rolegate")
    finally:
        for s in Server.started:
            s.stop()
        if cleanup:
            cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    bare_ref = sum(bare_runs) / len(bare_runs)
    lines = [
        f"Machine: {CORES} cores, {os.uname().machine}, {args.db}; wrk -t2 (client and server share the cores); "
        f"{DURATION} s per scenario.",
        "",
        f"- argon2id verify (m=19456 KiB, t=2, p=1): {per_core:.1f}/s on one core"
        + (f", {all_cores:.1f}/s with all {CORES} cores busy" if all_cores else "")
        + f"; reference capacity = {per_core:.1f} x {CORES} cores = {hash_capacity:.1f}/s",
        f"- start to ready on an existing database: {ready_ms:.0f} ms",
        f"- idle RSS: {idle_rss:.1f} MiB",
        "",
        f"- bare actix-web (bench/bare), the machine's limit: {' and '.join(f'{r:.0f}' for r in bare_runs)} "
        f"req/s before and after rolegate; reference = their mean, {bare_ref:.0f} req/s",
        "",
        "| scenario | conns | req/s (2xx) | p50 ms | p99 ms | non-2xx | peak RSS MiB | ratio to reference | x bare actix-web |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        ratio = ""
        if r["ref"]:
            kind, value = r["ref"]
            label = "public route" if kind == "public" else "argon2id capacity"
            ratio = f"{r['rps'] / value:.2f} x {label}"
            if kind == "argon2" and all_cores:
                # What argon2id alone does with every core hashing at once
                # (memory bandwidth and shared caches: less than cores x one).
                ratio += f" ({r['rps'] / all_cores:.2f} x all-cores rate)"
        lines.append(
            f"| {r['name']} | {r['connections']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['non2xx']} | {r['peak_rss_mib']:.1f} | {ratio} | "
            + (f"{r['rps'] / bare_ref:.2f} |" if r.get("vs_bare") else " |"))
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    log(f"table written to {out}")


if __name__ == "__main__":
    main()
