"""`adtech load --date D [--source S]...`: S3 to raw tables for one day, with a summary table.

Heavy imports (boto3, psycopg2) stay inside the command so that `adtech --help` is instant.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


class SourceName(StrEnum):
    advertiser_ids = "advertiser_ids"
    product_views = "product_views"
    ads_views = "ads_views"


def load(
    day: Annotated[
        datetime,
        typer.Option("--date", formats=["%Y-%m-%d"], help="The log day D to load (YYYY-MM-DD)."),
    ],
    source: Annotated[
        list[SourceName] | None,
        typer.Option("--source", help="Load only this source (repeatable); default: all three."),
    ] = None,
) -> None:
    """Load day D's S3 logs into the raw tables (idempotent: replaces D, nothing else)."""
    from loaders.errors import LoadError
    from loaders.load import load_source
    from loaders.s3objects import make_client
    from loaders.settings import get_settings

    try:
        settings = get_settings()
    except LoadError as exc:
        console.print(f"[red]load failed[/]: {exc}")
        raise typer.Exit(1) from None
    client = make_client()
    results, failures = [], []
    for name in source or list(SourceName):
        try:
            results.append(load_source(name.value, day.date(), settings=settings, s3_client=client))
        except LoadError as exc:
            failures.append((name.value, exc))
    console.print(_summary(day.date().isoformat(), results, failures))
    for name, exc in failures:
        console.print(f"[red]{name} failed ({type(exc).__name__})[/]: {exc}")
    if failures:
        raise typer.Exit(1)


def _summary(day: str, results: list, failures: list) -> Table:
    table = Table(title=f"adtech load {day}")
    for column in (
        "source",
        "objects",
        "rows loaded",
        "rejected",
        "checked path",
        "seconds",
        "note",
    ):
        table.add_column(column, justify="left" if column in ("source", "note") else "right")
    for r in results:
        note = f"list of {r.list_day} applied (none for {day})" if r.fell_back else ""
        table.add_row(
            r.source,
            str(len(r.objects)),
            f"{r.rows_loaded:,}",
            f"{r.rows_rejected:,}",
            str(sum(o.checked for o in r.objects)),
            f"{r.seconds:.1f}",
            note,
        )
    for name, exc in failures:
        table.add_row(name, "", "", "", "", "", f"[red]failed: {type(exc).__name__}[/]")
    return table
