"""The `adtech` console script: one entry point, each command delegating to its stage's package.

Commands import their stage lazily so that `adtech --help` stays instant.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console

from api.cli import serve
from deploy.aws.cli import deploy_app
from devstack.cli import generate, import_course, stack_app
from loaders.cli import load
from pipeline.cli.cleanup import cleanup, status
from pipeline.cli.evaluate import evaluate  # light: its queries and charts are imported when run

console = Console(stderr=True)
app = typer.Typer(
    help="adtech-recs: nightly ad recommendations and their API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(deploy_app, name="deploy")
app.command("generate")(generate)
app.command("import-course")(import_course)
app.command("load")(load)
app.command("cleanup")(cleanup)
stack_app.command("status")(status)
app.command("serve")(serve)
app.command("evaluate")(evaluate)


Target = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="dbt target that builds the models: default (PostgreSQL) or spark (the serving"
        " marts are then copied into PostgreSQL). Default: $ADTECH_DBT_TARGET, $DBT_TARGET,"
        " else default.",
    ),
]


def _use_target(target: str | None) -> None:
    import os

    from pipeline.settings import get_settings

    if target is not None:
        if target not in ("default", "spark"):
            console.print(f"[red]--target {target}[/]: expected default or spark")
            raise typer.Exit(2)
        os.environ["ADTECH_DBT_TARGET"] = target  # for every step, dbt included
        get_settings.cache_clear()


@app.command("run")
def run(
    date: Annotated[
        dt.datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Log day D to process.")
    ],
    target: Target = None,
) -> None:
    """Run the DAG's steps for D in order, without a scheduler: load, dbt, export, publish."""
    from pipeline.flow.runner import run_day

    _use_target(target)
    day = date.date()
    try:
        with console.status(f"{day}: starting") as status:
            result = run_day(day, on_step=lambda name: status.update(f"{day}: {name}"))
    except Exception as exc:  # every failure is reported in one line, never a traceback
        console.print(f"[red]{day}: failed[/]: {type(exc).__name__}: {exc}")
        console.print(f"Nothing was published: the API answers {day} as before (if it was served).")
        raise typer.Exit(1) from None
    for name, seconds in result.steps:
        console.print(f"  {name:<26} {seconds:7.2f} s")
    console.print(f"[green]{day}: published[/] (run {result.run_id})")


@app.command("backfill")
def backfill(
    start: Annotated[
        dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First log day.")
    ],
    end: Annotated[
        dt.datetime, typer.Option("--end", formats=["%Y-%m-%d"], help="Last log day (inclusive).")
    ],
    target: Target = None,
) -> None:
    """Run every day from START to END: the loads, one dbt build for all of them, then each day
    published on its own. If the range fails, each day runs alone, so good days are published.
    Exits 1 if any day failed."""
    from pipeline.flow.runner import run_range
    from pipeline.flow.sequence import days_between

    _use_target(target)
    first, last = start.date(), end.date()
    try:
        days_between(first, last)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    try:
        with console.status(f"{first}..{last}: starting") as status:
            results = run_range(first, last, on_step=lambda name: status.update(name))
    except Exception as exc:  # the range could not start at all (settings, database)
        console.print(f"[red]{first}..{last}: failed[/]: {type(exc).__name__}: {exc}")
        console.print("Nothing was published: the API answers every day as before.")
        raise typer.Exit(1) from None
    for result in results:
        if result.status == "success":
            console.print(f"[green]{result.day}: published[/] (run {result.run_id})")
        else:
            console.print(f"[red]{result.day}: failed[/]: {result.error}")
    if any(result.status != "success" for result in results):
        console.print("Failed days were not published: the API answers them as before.")
        raise typer.Exit(1)
