"""`adtech serve`: run the API with uvicorn (wired into the `adtech` script by
pipeline/cli/main.py).

Imports stay light: uvicorn is imported only when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
) -> None:
    """Start the recommendation API (settings from ADTECH_API_* / DATABASE_URL)."""
    import uvicorn

    uvicorn.run(
        "api.main:app",
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
    )
