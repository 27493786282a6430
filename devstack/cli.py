"""Commands of the local stack: `adtech stack ...`, `adtech generate`, `adtech import-course`.

Heavy imports stay inside the commands so that `adtech --help` is instant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
stack_app = typer.Typer(
    help="Local PostgreSQL + S3 endpoint for demos and tests (no Docker).", no_args_is_help=True
)


@stack_app.command("up")
def stack_up(
    airflow: Annotated[
        bool,
        typer.Option(
            "--airflow/--no-airflow",
            help="Migrate Airflow's metadata database and register the DAG when needed.",
        ),
    ] = True,
    spark: Annotated[
        bool,
        typer.Option(
            "--spark",
            help="Also start a Spark standalone cluster (a master, two workers) and a Thrift"
            " Server on it, for `adtech run --target spark` (needs Java 17; ~1-2 min, ~3 GB).",
        ),
    ] = False,
) -> None:
    """Start (or reuse) the local stack, migrate Airflow's metadata database if needed, and write
    the settings (connections, Airflow, PATH) to .stack/stack.env."""
    from devstack import stack
    from devstack.spark import SparkStartError

    try:
        st = stack.up(airflow_db=airflow, spark=spark)
    except (SparkStartError, RuntimeError) as exc:  # no Java, a JVM that would not start
        console.print(f"[red]stack up failed[/]: {exc}")
        raise typer.Exit(1) from None
    for notice in st.notices:
        console.print(f"[yellow]{notice}[/]")
    started = ", ".join(st.started) or "nothing (already running or external)"
    console.print(f"[green]stack up[/]: started {started}; settings in {st.env_file}")
    if st.spark:
        console.print(
            f"Spark: cluster {st.spark.env['ADTECH_SPARK_MASTER_URL']}, Thrift Server on port"
            f" {st.spark.env['ADTECH_SPARK_PORT']}, UI {st.spark.env['ADTECH_SPARK_UI']}"
        )
    console.print('Load them with: [bold]eval "$(adtech stack env)"[/]')


@stack_app.command("down")
def stack_down(
    delete: Annotated[
        bool, typer.Option("--delete", help="Also delete the stack's folder and database.")
    ] = False,
) -> None:
    """Stop what `stack up` started (by PID)."""
    from devstack import stack

    stopped = stack.down()
    console.print(f"stack down: stopped {', '.join(stopped) or 'nothing (not running)'}")
    if delete:
        stack.destroy(stack.default_dir())
        console.print(f"stack down: deleted {stack.default_dir()}")


@stack_app.command("env")
def stack_env() -> None:
    """Print the stack's settings as `export` lines (use with eval)."""
    from devstack import stack

    try:
        typer.echo(stack.env_lines(), nl=False)
    except FileNotFoundError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


class Skew(StrEnum):
    uniform = "uniform"
    zipf = "zipf"


def generate(
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD).")],
    days: Annotated[int, typer.Option(help="Number of consecutive days.")] = 7,
    advertisers: Annotated[int, typer.Option(help="Advertisers in the catalog.")] = 25,
    active: Annotated[int, typer.Option(help="Advertisers on each day's active list.")] = 20,
    products: Annotated[int, typer.Option(help="Products per advertiser.")] = 100,
    views_per_day: Annotated[int, typer.Option(help="product_views lines per day.")] = 20_000,
    ad_events_per_day: Annotated[
        int, typer.Option(help="ads_views lines (impressions + clicks) per day.")
    ] = 20_000,
    click_rate: Annotated[
        float, typer.Option(help="Fraction of ad events that are clicks.")
    ] = 0.01,
    skew: Annotated[
        Skew,
        typer.Option(
            help="Popularity: uniform (like the course) or zipf (1/rank traffic and varied "
            "click-through, like real traffic)."
        ),
    ] = Skew.uniform,
    churn: Annotated[
        float,
        typer.Option(help="Fraction of the active list replaced by inactive advertisers each day."),
    ] = 0.05,
    gzip: Annotated[bool, typer.Option("--gzip/--no-gzip", help="Write .csv.gz files.")] = False,
    crlf: Annotated[bool, typer.Option("--crlf/--lf", help="Line endings.")] = False,
    malformed: Annotated[
        float,
        typer.Option(
            help="Fraction of event lines made deliberately malformed, cycling through: wrong "
            "field count, bad date, bad type, empty id, date of another day (for testing the "
            "loaders; the active lists stay clean)."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Same seed and options, same bytes.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Write to this folder (laid out like the bucket prefix) instead of S3."),
    ] = None,
) -> None:
    """Write synthetic logs in the S3 day layout: per day, the active advertisers, product views
    and ad events, in the course's CSV format.

    Without --out, writes to s3://$ADTECH_S3_BUCKET/$ADTECH_S3_PREFIX (default raw/) on
    $AWS_ENDPOINT_URL_S3. Events of inactive advertisers are included (the pipeline filters them).
    Files are named generated.csv[.gz], so a rerun replaces them."""
    from botocore.exceptions import BotoCoreError, ClientError

    from devstack import storage
    from devstack.generate import Options
    from devstack.generate import generate as run

    try:
        opts = Options(
            start=start.date(),
            days=days,
            advertisers=advertisers,
            active=active,
            products=products,
            views_per_day=views_per_day,
            ad_events_per_day=ad_events_per_day,
            click_rate=click_rate,
            skew=skew.value,
            churn=churn,
            gzip=gzip,
            crlf=crlf,
            malformed=malformed,
            seed=seed,
        )
        location = storage.LocalFolder(out) if out else storage.from_env()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        with _progress(opts.total_events, f"generating into {location.describe()}") as advance:
            written = run(opts, location, advance)
    except (BotoCoreError, ClientError, OSError) as exc:
        # Days already written stay; the file being written is aborted, never left half-done.
        console.print(f"[red]generate failed[/] writing to {location.describe()}: {exc}")
        raise typer.Exit(1) from None
    table = Table(
        "date",
        "active",
        "product_views",
        "ads_views",
        "clicks",
        "malformed",
        title=f"written to {location.describe()}",
    )
    for day in written:
        table.add_row(
            day.day.isoformat(),
            str(day.active),
            f"{day.views:,}",
            f"{day.ad_events:,}",
            f"{day.clicks:,}",
            f"{day.malformed:,}",
        )
    console.print(table)
    _warn_about_neighbours(location, [k for day in written for k in day.keys])


def import_course(
    src: Annotated[
        str,
        typer.Argument(
            help="Folder or s3://bucket/prefix holding advertiser_ids, product_views, ads_views."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Write to this folder (laid out like the bucket prefix) instead of S3."),
    ] = None,
    allow_bad: Annotated[
        bool,
        typer.Option(
            "--allow-bad",
            help="Import even if some lines have no readable date: leave them out (reported).",
        ),
    ] = False,
) -> None:
    """Split the course's flat files (many days each; .csv or no extension; LF or CRLF; gzip or
    not) into day partitions: <source>/date=D/course.csv.

    Destination: --out DIR, else s3://$ADTECH_S3_BUCKET/$ADTECH_S3_PREFIX (default raw/).

    \b
    - Event lines go to the day of their own date column, byte for byte.
    - advertiser_ids has no date: it is written to the FIRST event day only; the loaders apply
      the most recent earlier list to the following days (with a warning).
    - Lines with a readable date but otherwise malformed (field count, empty id, unknown type)
      are kept in their day: the loaders reject them into ops.rejected_rows. They are counted.
    - Lines with no readable date belong to no day: the command then fails (exit 1), shows their
      count and examples, and writes nothing, unless --allow-bad is given.
    - Nothing is published until the whole input has been read; a rerun replaces course.csv.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from devstack import storage
    from devstack.course_import import CourseImportError
    from devstack.course_import import import_course as run

    try:
        source = storage.parse(src)
        dest = storage.LocalFolder(out) if out else storage.from_env()
        report = run(source, dest, allow_bad=allow_bad)
    except (ValueError, CourseImportError, BotoCoreError, ClientError, OSError) as exc:
        console.print(f"[red]import-course failed[/]: {exc}")
        raise typer.Exit(1) from None
    _print_import_report(report, dest.describe())
    _warn_about_neighbours(dest, report.published)


def _print_import_report(report, where: str) -> None:
    table = Table(
        "date",
        "advertiser_ids",
        "product_views",
        "ads_views",
        title=f"rows per day written to {where}",
    )
    rows = report.rows
    for day in report.days():
        table.add_row(
            day,
            *(
                f"{rows[s][day]:,}" if day in rows.get(s, {}) else "-"
                for s in ("advertiser_ids", "product_views", "ads_views")
            ),
        )
    console.print(table)
    console.print(
        f"advertiser_ids went to {report.advertiser_ids_day} only: the loaders use it "
        "for later days through their fallback to the most recent earlier list."
    )
    if report.to_be_rejected:
        counts = ", ".join(f"{s}: {n:,}" for s, n in sorted(report.to_be_rejected.items()))
        console.print(
            f"[yellow]kept in their days but malformed (the loaders will reject them)[/]: {counts}"
        )
    if report.unroutable:
        console.print(f"[yellow]left out (--allow-bad)[/]: {report.unroutable_message()}")


def _warn_about_neighbours(location, keys: list[str]) -> None:
    from devstack.storage import neighbours

    others = neighbours(location, keys)
    if others:
        shown = "\n".join(f"  {location.describe(k)}" for k in others[:5])
        console.print(
            f"[yellow]warning[/]: {len(others)} other file(s) sit in the partitions "
            f"just written, and the loaders will load them too:\n{shown}"
        )


@contextmanager
def _progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal; nothing when output is not a TTY."""
    if not console.is_terminal:
        yield lambda _: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
