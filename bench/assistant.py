"""Question answering benchmark: ``service.ask`` offline on a year of history, then the evaluation.

    python -m bench.assistant                  # 1,000 accounts x 365 days (built once, kept)
    python -m bench.assistant --accounts 100 --days 60 --db /tmp/small.db
    python -m bench.assistant --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The data set is the look-up benchmark's (``bench.lookups``: the storage
benchmark's simulated tenant with daily captures of every account, notes,
playbooks and reports, plus a Thai note per account a month), built when the
database has none and kept for the next run; by default the same file as
``bench.lookups``, so either benchmark builds it for both.

Each question of a mix per intent (values as of a time, changes, histories,
rankings of every account, matching, assignments, notes in English and Thai,
and a few that cannot be answered) is asked through ``service.ask`` with the
offline answerer, on random accounts, cold (the decoded section cache cleared
before each question) and warm, in one transaction rolled back at the end, so
the query log keeps nothing. The table gives the median, 95th percentile and
maximum per intent against the target: an offline answer within 150 ms at the
95th percentile. Then the evaluation (``tidemark.assistant.evaluation``) runs
on a scratch database beside it and prints its tables.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from bench import lookups
from bench.common import (
    clear_section_cache,
    describe_engine,
    fresh_postgres,
    fresh_sqlite,
    machine,
    say,
    sqlite_url,
    table,
)
from tidemark.assistant import service
from tidemark.assistant.evaluation import SMALL, DatasetSpec, percentile, run_evaluation
from tidemark.db import make_engine, session_factory
from tidemark.success.models import Account

#: p95 target of an offline answer, in milliseconds.
ANSWER_MS = 150.0
PG_EVAL_DATABASE = "tidemark_bench_eval"
#: The evaluation's moment unless --now says otherwise, so runs compare.
EVAL_NOW = datetime(2025, 6, 18, 3, 0, tzinfo=UTC)
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

#: Question templates by intent; {a} is a random account, {date} a day of the history,
#: {month} a month of it. The last group cannot be answered.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "value_as_of": (
        "What was {a}'s health score last month?",
        "What was {a}'s revenue on {date}?",
        "{a} support score 3 months ago",
        "What is {a}'s health score?",
    ),
    "change": (
        "How did {a}'s health score change over the past 90 days?",
        "How much did {a}'s revenue change since {month}?",
        "Compare {a}'s health now vs 6 months ago",
    ),
    "history": (
        "Show {a}'s health history over the past 90 days",
        "{a} revenue trend since {month}",
    ),
    "ranked_change": (
        "Which accounts improved their health score last month?",
        "Top 10 accounts by health decline over the past 90 days",
        "Which accounts' product usage dropped since {month}?",
    ),
    "matching": (
        "Which accounts are at risk?",
        "Which accounts had health below 60 on {date}?",
        "Which enterprise accounts have more than 5 critical KPIs?",
    ),
    "assignments": (
        "Who is {a}'s CSM?",
        "What products does {a} use?",
    ),
    "notes": (
        "What did we discuss with {a} about renewal?",
        "Notes about ต่ออายุ last quarter",
        "Which playbook reports mention outcomes?",
    ),
    "unanswerable": (
        "What was Zeppelin Partners' revenue last month?",
        "What is the meaning of life?",
    ),
}


def question_stream(
    rng: random.Random, names: Sequence[str], first: datetime, newest: datetime
) -> Callable[[str], str]:
    """A function giving a fresh random question of an intent at each call."""
    span = max(1, (newest - first).days)

    def ask(intent: str) -> str:
        template = rng.choice(QUESTIONS[intent])
        day = (first + timedelta(days=rng.randrange(span))).date()
        month = (first + timedelta(days=rng.randrange(span))).month
        return template.format(a=rng.choice(names), date=day.isoformat(), month=_MONTHS[month - 1])

    return ask


def time_questions(engine: Engine, data: lookups.DataSet, runs: int, seed: int) -> bool:
    """Time ``service.ask`` per intent, cold and warm; False when a warm p95 misses 150 ms."""
    rng = random.Random(seed)
    session = session_factory(engine)()
    ok = True
    rows: list[list[Any]] = []
    try:
        names = list(
            session.execute(
                select(Account.account_name).where(Account.customer_id == data.customer_id)
            ).scalars()
        )
        now = data.newest + timedelta(hours=6)
        next_question = question_stream(rng, names, data.first, data.newest)
        overall: dict[str, list[float]] = defaultdict(list)
        answered: dict[str, int] = defaultdict(int)
        for intent in QUESTIONS:
            for mode in ("cold", "warm"):
                if mode == "warm":
                    for _ in range(max(5, runs // 10)):  # warm-up, untimed
                        service.ask(
                            session,
                            customer_id=data.customer_id,
                            question=next_question(intent),
                            now=now,
                        )
                samples: list[float] = []
                for _ in range(runs):
                    question = next_question(intent)
                    if mode == "cold":
                        clear_section_cache(engine)
                    started = time.perf_counter()
                    answer = service.ask(
                        session, customer_id=data.customer_id, question=question, now=now
                    )
                    samples.append((time.perf_counter() - started) * 1000)
                    answered[f"{intent} {mode}"] += answer.answerable
                overall[mode].extend(samples)
                p95 = percentile(samples, 95)
                met = p95 <= ANSWER_MS
                if mode == "warm":
                    ok &= met
                rows.append(
                    [
                        intent,
                        mode,
                        runs,
                        answered[f"{intent} {mode}"],
                        round(percentile(samples, 50), 2),
                        round(p95, 2),
                        round(max(samples), 2),
                        f"p95 <= {ANSWER_MS:g} ms: {'met' if met else 'MISSED'}",
                    ]
                )
            session.rollback()  # the query log rows of this intent
        for mode, samples in overall.items():
            rows.append(
                [
                    "all",
                    mode,
                    len(samples),
                    "",
                    round(percentile(samples, 50), 2),
                    round(percentile(samples, 95), 2),
                    round(max(samples), 2),
                    "",
                ]
            )
    finally:
        session.rollback()
        session.close()
    say(
        table(
            rows,
            ("intent", "cache", "questions", "answered", "median ms", "p95 ms", "max ms", "target"),
        )
    )
    return ok


def evaluate(engine: Engine, args: argparse.Namespace) -> bool:
    """Run the evaluation on ``engine`` and print its tables; True when every target is met."""
    spec = SMALL if args.eval_small else DatasetSpec()
    now = datetime.fromisoformat(args.now) if args.now else EVAL_NOW
    report = run_evaluation(engine, now=now, seed=args.seed, spec=spec)
    console = Console(width=max(100, Console().width), highlight=False)
    for rendered in report.tables(failures=args.failures):
        console.print(rendered)
    say(
        f"{report.overall.questions} questions; built in {report.build_seconds:.1f} s, "
        f"asked and scored in {report.ask_seconds:.1f} s"
    )
    return report.passed


def bench_backend(engine: Engine, args: argparse.Namespace) -> bool:
    """Prepare the data set and time the questions."""
    say(f"\n== {describe_engine(engine)}")
    data = lookups.prepare(engine, args)
    say(
        f"{len(data.account_ids):,} accounts, {data.snapshots:,} snapshots from "
        f"{data.first:%Y-%m-%d} to {data.newest:%Y-%m-%d}, {data.notes:,} notes"
    )
    return time_questions(engine, data, args.runs, args.seed)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; it reports the targets, it does not fail on them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=lookups.DEFAULT_DB, help="SQLite file (kept)")
    parser.add_argument("--runs", type=int, default=60, help="questions per intent and mode")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=1_000, help="when building the data set")
    parser.add_argument("--days", type=int, default=365, help="when building the data set")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help=f"also run on database {lookups.PG_DATABASE} on that server (built when missing)",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-eval", action="store_true", help="only time the questions")
    parser.add_argument("--eval-small", action="store_true", help="the evaluation's small set")
    parser.add_argument("--failures", type=int, default=20, help="wrong answers to list")
    parser.add_argument("--now", help="the evaluation's now (ISO 8601); default a fixed moment")
    args = parser.parse_args(argv)

    say(f"question answering benchmark, {machine()}, load average {os.getloadavg()[0]:.2f}")
    if not args.skip_sqlite:
        engine = make_engine(sqlite_url(args.db)) if args.db.exists() else fresh_sqlite(args.db)
        bench_backend(engine, args)
        engine.dispose()
        say(f"SQLite database kept at {args.db}")
        if not args.skip_eval:
            with tempfile.TemporaryDirectory() as folder:
                say("\n== evaluation on a scratch SQLite database")
                scratch = fresh_sqlite(Path(folder) / "eval.db")
                evaluate(scratch, args)
                scratch.dispose()
    if args.postgres:
        url = make_url(args.postgres).set(database=lookups.PG_DATABASE)
        engine = make_engine(url.render_as_string(hide_password=False))
        try:
            found = lookups.load_data_set(engine)
        except Exception:  # the database does not exist yet
            found = None
        if found is None:
            engine.dispose()
            engine = fresh_postgres(args.postgres, lookups.PG_DATABASE)
        bench_backend(engine, args)
        engine.dispose()
        say(f"PostgreSQL database kept: {url.render_as_string(hide_password=True)}")
        if not args.skip_eval:
            say(f"\n== evaluation on PostgreSQL database {PG_EVAL_DATABASE}")
            scratch = fresh_postgres(args.postgres, PG_EVAL_DATABASE)
            evaluate(scratch, args)
            scratch.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
