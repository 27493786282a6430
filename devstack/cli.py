"""Commands of the local stack: `adtech stack ...`, `adtech generate`, `adtech import-course`.

Heavy imports stay inside the commands so that `adtech --help` is instant.
"""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(stderr=True)
stack_app = typer.Typer(help="Local PostgreSQL + S3 endpoint for demos and tests (no Docker).",
                        no_args_is_help=True)


@stack_app.command("up")
def stack_up() -> None:
    """Start (or reuse) the local stack and write its settings to .stack/stack.env."""
    from devstack import stack

    st = stack.up()
    started = ", ".join(st.started) or "nothing (already running or external)"
    console.print(f"[green]stack up[/]: started {started}; settings in {st.env_file}")
    console.print("Load them with: [bold]eval \"$(adtech stack env)\"[/]")


@stack_app.command("down")
def stack_down() -> None:
    """Stop what `stack up` started (by PID)."""
    from devstack import stack

    stopped = stack.down()
    console.print(f"stack down: stopped {', '.join(stopped) or 'nothing (not running)'}")


@stack_app.command("env")
def stack_env() -> None:
    """Print the stack's settings as `export` lines (use with eval)."""
    from devstack import stack

    try:
        typer.echo(stack.env_lines(), nl=False)
    except FileNotFoundError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
