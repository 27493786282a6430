"""The `adtech` console script: one entry point, each command delegating to its stage's package."""

from __future__ import annotations

import typer

from devstack.cli import generate, import_course, stack_app
from loaders.cli import load

app = typer.Typer(help="adtech-recs: nightly ad recommendations and their API.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(stack_app, name="stack")
app.command("generate")(generate)
app.command("import-course")(import_course)
app.command("load")(load)
