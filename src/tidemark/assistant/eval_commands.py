"""`tidemark eval`: score question answering against gold answers computed from the data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from tidemark.assistant.evaluation import SMALL, DatasetSpec, ProgressCallback, run_evaluation
from tidemark.console import JsonOption, err, now, out, print_json
from tidemark.db.engine import make_engine
from tidemark.db.migrate import upgrade
from tidemark.settings import get_settings

#: The scratch database of ``tidemark eval``, in the data folder; made afresh on every run.
SCRATCH_NAME = "eval.db"


def scratch_database(folder: Path) -> str:
    """A fresh SQLite file ``eval.db`` in ``folder`` (an earlier one is removed), as a URL."""
    path = (folder / SCRATCH_NAME).resolve()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


@contextmanager
def _progress() -> Iterator[ProgressCallback]:
    """Bars on stderr while tenants are built and questions asked (terminals only)."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def advance(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with progress:
        yield advance


def evaluate(
    seed: Annotated[int, typer.Option(help="Seed of the generated tenants and questions.")] = 7,
    as_json: JsonOption = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Build the evaluation tenants in this database instead of a fresh "
            "data/eval.db (tenants named 'Evaluation ... (seed N)' there are replaced).",
            show_default=False,
        ),
    ] = None,
    small: Annotated[
        bool, typer.Option("--small", help="Six accounts and monthly captures: a quicker run.")
    ] = False,
    failures: Annotated[
        int, typer.Option(help="How many wrongly answered questions to list.")
    ] = 40,
) -> None:
    """Ask a question set with gold answers computed from the data, and score the answers.

    Builds four tenants (a long and a short history, each with a counterfactual copy whose
    values differ) through the capture path, asks every question offline, and reports
    exact answers, which-accounts F1, windows, citations and refusals, beside a baseline
    that only sees each account's newest snapshot. Exits 1 when a figure misses its target.

    Example: tidemark eval --seed 7
    """
    url = database_url or scratch_database(get_settings().data_dir)
    spec = SMALL if small else DatasetSpec()
    engine = make_engine(url)
    try:
        upgrade(engine)
        with _progress() as advance:
            report = run_evaluation(engine, now=now(), seed=seed, spec=spec, progress=advance)
    finally:
        engine.dispose()
    if as_json:
        print_json(report.to_json())
    else:
        for table in report.tables(failures=failures):
            out.print(table)
        out.print(
            f"[dim]{report.overall.questions} questions on {escape(report.database)}; "
            f"built in {report.build_seconds:.1f} s, asked in {report.ask_seconds:.1f} s.[/dim]"
        )
    if not report.passed:
        raise typer.Exit(1)
