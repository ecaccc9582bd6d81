"""Load benchmark of ``GET /api/account-snapshots/latest?account_id=N`` over real HTTP.

    python -m bench.api_latest                                   # SQLite, 50 clients, 30 s
    python -m bench.api_latest --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python -m bench.api_latest --skip-sqlite --postgres URL --workers 2
    python -m bench.api_latest --think-ms 0 100 500              # one measured run per pause

The data set is the storage benchmark's year: 1,000 accounts with 365 daily
snapshots each (``bench.storage.simulate``), built once into
``/tmp/tidemark-bench-api.db`` and the PostgreSQL database ``tidemark_bench_api``
and reused while the schema is unchanged (``--rebuild`` builds it anew).

The API is served by uvicorn in its own process(es); the load comes from ``wrk``
(Debian's package) in another process, with a Lua script that sends a viewer's
API key and asks for a different account on every request. Each of the 50
connections is one client: it sends a request, waits for the answer, then
pauses ``--think-ms`` (spread evenly around that mean) before its next request;
``--think-ms 0`` makes every client send again at once (a closed loop), which
measures the server's saturation throughput rather than the latency clients
see. Each measured run lasts 30 s after a 5 s warm-up; the script prints p50,
p90 and p99 of the latency, requests per second and errors, and whether p99 is
within 15 ms. SQLite is served by one uvicorn process (its worker threads share
the process's connection pool; ``--sqlite-workers`` for more), PostgreSQL by
``--workers`` processes (2 by default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.common import (
    analyze,
    describe_engine,
    fresh_postgres,
    fresh_sqlite,
    machine,
    say,
    table,
)
from tidemark.db import make_engine, unit_of_work
from tidemark.tenancy import keys

TARGET_P99_MS = 15.0
DEFAULT_DB = Path("/tmp/tidemark-bench-api.db")
PG_DATABASE = "tidemark_bench_api"
#: Where the fingerprint of the schema and the data set's shape is kept, beside the data.
MARKER = "tidemark_bench_api_marker"
LATEST = "/api/account-snapshots/latest"
#: Opens the data set's database; with True, empty and migrated first.
EngineOf = Callable[[bool], Engine]

LUA = """
local first, count, think = %(first)d, %(count)d, %(think)d
local auth = "Bearer %(key)s"
local counter = 0

function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

function init(args)
  n = offset
  wrk.headers["Authorization"] = auth
end

function request()
  n = n + 1
  local id = first + (n * 7919) %% count
  return wrk.format("GET", "%(path)s?account_id=" .. id)
end

function delay()
  if think == 0 then return 0 end
  return math.random(0, 2 * think)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50\\": %%d, \\"p90\\": %%d, " ..
    "\\"p99\\": %%d, \\"max\\": %%d, \\"mean\\": %%.1f, \\"connect\\": %%d, \\"read\\": %%d, " ..
    "\\"write\\": %%d, \\"status\\": %%d, \\"timeout\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status,
    e.timeout))
end
"""


# ----------------------------------------------------------------------------- the data set


def fingerprint(accounts: int, days: int, seed: int) -> str:
    """A digest of the schema, the stored form of snapshots and the data set's shape."""
    package = Path(__file__).resolve().parents[1] / "src" / "tidemark"
    hashed = hashlib.sha256(f"{accounts}x{days}x{seed}".encode())
    stored_form = ["snapshots/models.py", "snapshots/fields.py", "snapshots/sections.py"]
    for path in sorted(package.glob("migrations/**/*.py")) + [package / p for p in stored_form]:
        hashed.update(path.read_bytes())
    return hashed.hexdigest()[:16]


def _marker(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            value: str | None = conn.execute(text(f"SELECT value FROM {MARKER}")).scalar()
            return value
    except Exception:  # no database, or not one this benchmark built
        return None


def _mark(engine: Engine, value: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {MARKER} (value VARCHAR(64))"))
        conn.execute(text(f"INSERT INTO {MARKER} VALUES (:v)"), {"v": value})


def build(engine_of: EngineOf, accounts: int, days: int, seed: int, rebuild: bool) -> Engine:
    """The data set's engine, reused when it holds this shape on this schema, else built."""
    wanted = fingerprint(accounts, days, seed)
    engine: Engine = engine_of(False)
    if not rebuild and _marker(engine) == wanted:
        say(f"reusing the data set in {describe_engine(engine)}")
        return engine
    engine.dispose()
    engine = engine_of(True)
    from bench.storage import simulate  # the storage benchmark's year of daily snapshots

    say(f"building {accounts:,} accounts x {days} daily snapshots (takes a few minutes) ...")
    start = time.perf_counter()
    simulate(engine, accounts, days, seed)
    analyze(engine)
    _mark(engine, wanted)
    say(f"built in {time.perf_counter() - start:.0f} s")
    return engine


def sqlite_engine_of(path: Path) -> EngineOf:
    """Open (or, when ``fresh``, recreate) the benchmark's SQLite file."""

    def engine_of(fresh: bool) -> Engine:
        return fresh_sqlite(path) if fresh else make_engine(f"sqlite:///{path}")

    return engine_of


def postgres_engine_of(server_url: str) -> EngineOf:
    """Open (or, when ``fresh``, recreate) the benchmark's PostgreSQL database."""
    url = make_url(server_url).set(database=PG_DATABASE).render_as_string(hide_password=False)

    def engine_of(fresh: bool) -> Engine:
        return fresh_postgres(server_url, PG_DATABASE) if fresh else make_engine(url)

    return engine_of


# ----------------------------------------------------------------------------- serving


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served(url: str, workers: int) -> Iterator[str]:
    """Serve the API on ``url``'s database with uvicorn in another process; yields its base URL."""
    port = free_port()
    env = {**os.environ, "TIDEMARK_DATABASE_URL": url, "TIDEMARK_LOG_LEVEL": "WARNING"}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "tidemark.api:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    server = subprocess.Popen(command, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the API server did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def bench_key(engine: Engine) -> tuple[str, int, int]:
    """A new viewer key of the data set's tenant, and its first account id and account count."""
    with unit_of_work(engine) as session:
        customer_id = session.execute(text("SELECT min(customer_id) FROM customers")).scalar_one()
        first, count = session.execute(
            text("SELECT min(account_id), count(*) FROM accounts WHERE customer_id = :c"),
            {"c": customer_id},
        ).one()
        _, secret = keys.create(
            session, customer_id=customer_id, role="viewer", now=datetime.now(UTC)
        )
    return secret, int(first), int(count)


def check_answer(base: str, key: str, account_id: int, days: int) -> None:
    """One request by hand: the newest snapshot of the account, with its full history behind it."""
    request = urllib.request.Request(
        f"{base}{LATEST}?account_id={account_id}", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.loads(response.read())
        size = len(json.dumps(body))
    (record,) = body
    assert record["account_id"] == account_id, record
    assert record["snapshot_sequence_number"] == days, record["snapshot_sequence_number"]
    say(f"one answer: account {account_id}, snapshot {record['snapshot_id']}, {size:,} bytes")


# ----------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Load:
    """What one wrk run measured (latencies in milliseconds)."""

    requests: int
    seconds: float
    p50: float
    p90: float
    p99: float
    max: float
    errors: int

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


def run_wrk(base: str, script: Path, *, seconds: int, connections: int, threads: int) -> Load:
    """Run wrk against ``base`` with the Lua script; parse the summary its ``done`` prints."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50=data["p50"] / 1000,
        p90=data["p90"] / 1000,
        p99=data["p99"] / 1000,
        max=data["max"] / 1000,
        errors=errors,
    )


def bench_backend(engine: Engine, args: argparse.Namespace, workers: int) -> list[Load]:
    """Serve the data set and load it once per think time; print and return the measured runs."""
    url = engine.url.render_as_string(hide_password=False)
    with engine.connect() as conn:
        snapshots = conn.execute(text("SELECT count(*) FROM account_snapshots")).scalar_one()
    key, first, count = bench_key(engine)
    say(f"{count:,} accounts, {snapshots:,} snapshots; uvicorn with {workers} worker(s)")
    loads: list[Load] = []
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as folder, served(url, workers) as base:
        check_answer(base, key, first + count // 2, args.days)
        options = {"connections": args.connections, "threads": args.threads}
        for think in args.think_ms:
            script = Path(folder) / f"latest-{think}.lua"
            values = {"first": first, "count": count, "think": think, "key": key}
            script.write_text(LUA % {**values, "path": LATEST})
            run_wrk(base, script, seconds=args.warmup, **options)
            load = run_wrk(base, script, seconds=args.duration, **options)
            loads.append(load)
            met = load.p99 <= TARGET_P99_MS and not load.errors
            rows.append(
                [
                    think,
                    round(load.p50, 1),
                    round(load.p90, 1),
                    round(load.p99, 1),
                    round(load.max, 1),
                    round(load.rate),
                    load.errors,
                    "met" if met else "MISSED",
                ]
            )
            say(f"  think {think} ms: p99 {load.p99:.1f} ms, {load.rate:,.0f} requests/s")
    say(f"\n{args.connections} clients, {args.duration} s each after {args.warmup} s of warm-up")
    headers = ("think ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "req/s", "errors")
    say(table(rows, (*headers, f"p99 <= {TARGET_P99_MS:.0f} ms")))
    return loads


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load benchmark; exit status 1 when p99 is over the target or a request failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file (kept)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help=f"also run on PostgreSQL; creates database {PG_DATABASE} on that server once",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="build the data set anew")
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--think-ms",
        type=int,
        nargs="+",
        default=[100],
        help="mean pause of each client between requests; one measured run per value",
    )
    parser.add_argument("--duration", type=int, default=30, help="seconds measured")
    parser.add_argument("--warmup", type=int, default=5, help="seconds before measuring")
    parser.add_argument("--sqlite-workers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers on PostgreSQL")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    say(f"API load benchmark, {machine()}, load average {os.getloadavg()[0]:.2f}")
    say(f"GET {LATEST}?account_id=N, {args.accounts:,} accounts x {args.days} daily snapshots")
    ok = True
    backends: list[tuple[EngineOf, int]] = []
    if not args.skip_sqlite:
        backends.append((sqlite_engine_of(args.db), args.sqlite_workers))
    if args.postgres:
        backends.append((postgres_engine_of(args.postgres), args.workers))
    for engine_of, workers in backends:
        engine = build(engine_of, args.accounts, args.days, args.seed, args.rebuild)
        say(f"\n== {describe_engine(engine)}")
        loads = bench_backend(engine, args, workers)
        ok &= all(load.p99 <= TARGET_P99_MS and not load.errors for load in loads)
        engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
