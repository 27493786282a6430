"""`adtech evaluate --from D1 --to D2 [--chart FILE.svg]`: the next-day evaluation of the served
lists of each date D1..D2, as a table, and optionally the landing page's chart as a file.

A date's lists are evaluated by the next day's build (marts.evaluation_daily, list_date = D,
read at D + 1's served version, as the API reads it): a date whose next day is not published
yet is left out and named. Heavy imports stay inside the command, so `adtech --help` is instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
if not console.is_terminal:  # a pipe or a file: the table whole, not cut at 80 columns
    console = Console(width=150)
errors = Console(stderr=True)

EVALUATION_SQL = """
    select e.list_date, e.date, e.model, e.advertisers::bigint, e.advertisers_with_clicks::bigint,
           e.clicks::bigint, e.click_hit_rate::float8, e.random_click_hit_rate::float8,
           e.view_hit_rate::float8, e.random_view_hit_rate::float8,
           e.impression_hit_rate::float8, e.random_impression_hit_rate::float8,
           e.listed_ctr::float8, e.all_ctr::float8
    from marts.evaluation_daily e
    join ops.published_days p on p.date = e.date and p.version = e.version
    where e.list_date between %s and %s
    order by e.list_date, e.model
"""
CHART_SUFFIXES = (".svg",)


@dataclass(frozen=True)
class EvaluatedModel:
    list_date: dt.date
    evaluated_on: dt.date
    model: str
    advertisers: int
    advertisers_with_clicks: int
    clicks: int
    click_hit_rate: float | None
    random_click_hit_rate: float | None
    view_hit_rate: float | None
    random_view_hit_rate: float | None
    impression_hit_rate: float | None
    random_impression_hit_rate: float | None
    listed_ctr: float | None
    all_ctr: float | None


class EvaluateError(RuntimeError):
    """Said in one line; the command exits 1."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error[/]: {message}", soft_wrap=True)
    return typer.Exit(code)


def read_evaluations(database_url: str, first: dt.date, last: dt.date) -> list[EvaluatedModel]:
    """The served evaluations of the list dates first..last (both models), oldest first."""
    import psycopg2

    try:
        conn = psycopg2.connect(database_url)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise EvaluateError(f"cannot connect to PostgreSQL ({reason})") from None
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select to_regclass('marts.evaluation_daily') is not null")
            if not cur.fetchone()[0]:
                raise EvaluateError(
                    "marts.evaluation_daily does not exist yet: run a night first"
                    " (adtech run --date D), then the next one evaluates D's lists"
                )
            cur.execute(EVALUATION_SQL, (first, last))
            return [EvaluatedModel(*row) for row in cur.fetchall()]
    finally:
        conn.close()


def _database_url() -> str:
    """DATABASE_URL only: evaluating reads the marts, it needs no bucket or dbt setting."""
    from pydantic import Field, ValidationError
    from pydantic_settings import BaseSettings

    from loaders.settings import LOCAL_STACK_HINT, problems

    class EvaluateSettings(BaseSettings):
        database_url: str = Field(validation_alias="DATABASE_URL")

    try:
        return EvaluateSettings().database_url  # type: ignore[call-arg]
    except ValidationError as exc:
        raise EvaluateError(
            f"settings are incomplete ({problems(exc)}); {LOCAL_STACK_HINT}"
        ) from None


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _lift(rate: float | None, random: float | None) -> str:
    return "n/a" if rate is None or not random else f"{rate / random:.2f}x"


def table(rows: list[EvaluatedModel]):
    from rich.table import Table

    out = Table(
        title="Next-day evaluation of the served lists (hit rate = share of the next day's"
        " events on listed products; random = top_n products drawn at random)"
    )
    names = ["list date", "model", "click hit", "random", "lift", "view hit", "random"]
    names += ["impr. hit", "random", "listed CTR", "all CTR", "advertisers clicked", "clicks"]
    for name in names:
        out.add_column(name, justify="left" if name in ("list date", "model") else "right")
    for r in rows:
        out.add_row(
            r.list_date.isoformat(),
            r.model,
            _percent(r.click_hit_rate),
            _percent(r.random_click_hit_rate),
            _lift(r.click_hit_rate, r.random_click_hit_rate),
            _percent(r.view_hit_rate),
            _percent(r.random_view_hit_rate),
            _percent(r.impression_hit_rate),
            _percent(r.random_impression_hit_rate),
            _percent(r.listed_ctr),
            _percent(r.all_ctr),
            f"{r.advertisers_with_clicks} of {r.advertisers}",
            f"{r.clicks:,}",
        )
    return out


def chart_svg(rows: list[EvaluatedModel]) -> str:
    """The landing page's evaluation chart (api/overview), as an SVG document of its own."""
    from api.overview.charts import standalone
    from api.overview.page import evaluation_chart, evaluation_series
    from api.overview.queries import TrendDay

    hit: dict[dt.date, dict[str, float | None]] = {}
    random: dict[dt.date, dict[str, float | None]] = {}
    for r in rows:
        hit.setdefault(r.list_date, {})[r.model] = r.click_hit_rate
        random.setdefault(r.list_date, {})[r.model] = r.random_click_hit_rate
    trend = [TrendDay(date=d, hit_rate=hit[d], random_hit_rate=random[d]) for d in sorted(hit)]
    title = "Next-day click hit rate per model against random, by list date"
    return standalone(evaluation_chart(trend), title, evaluation_series(trend))


def _check_chart_path(chart: Path) -> None:
    if chart.suffix.lower() == ".png":
        raise EvaluateError(
            f"--chart {chart}: PNG is not available (no rasteriser is installed with the"
            " project); write an .svg file instead"
        )
    if chart.suffix.lower() not in CHART_SUFFIXES:
        raise EvaluateError(f"--chart {chart}: the file name must end in .svg")
    if chart.is_dir():
        raise EvaluateError(f"--chart {chart}: is a directory")
    if not chart.parent.is_dir():
        raise EvaluateError(f"--chart {chart}: folder {chart.parent} does not exist")


def evaluate(
    start: Annotated[
        dt.datetime,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First list date D1 (YYYY-MM-DD)."),
    ],
    end: Annotated[
        dt.datetime,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last list date D2 (YYYY-MM-DD)."),
    ],
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="Also write the hit-rate chart to this .svg file."),
    ] = None,
) -> None:
    """The next-day evaluation of the lists served for D1..D2: per date and model, the share
    of the next day's clicks, views and impressions on listed products against a random list,
    and the advertisers and events behind it (a date is evaluated once its next day is
    published)."""
    first, last = start.date(), end.date()
    if first > last:
        raise _fail(f"--from {first} is after --to {last}", 2)
    try:
        if chart is not None:
            _check_chart_path(chart)
        rows = read_evaluations(_database_url(), first, last)
        if not rows:
            raise EvaluateError(
                f"no evaluated list date between {first} and {last}: a date's lists are"
                " evaluated once the next day is published"
            )
    except EvaluateError as exc:
        raise _fail(str(exc)) from None
    console.print(table(rows))
    evaluated = {r.list_date for r in rows}
    missing = [
        first + dt.timedelta(days=i)
        for i in range((last - first).days + 1)
        if first + dt.timedelta(days=i) not in evaluated
    ]
    if missing:
        shown = ", ".join(d.isoformat() for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
        console.print(f"not evaluated ({len(missing)}: no published next day, or no list): {shown}")
    if chart is not None:
        chart.write_text(chart_svg(rows), encoding="utf-8")
        console.print(f"chart written to {chart}")
