"""`serve`: watch and steer runs in the browser."""

from __future__ import annotations

from pathlib import Path

import click

from grammarflow.cli.app import _errors_reported, db_option, main

__all__ = ["serve_cmd"]


@main.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0: every interface; anyone who can "
                   "reach it still needs the token).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="The port (0: any free one).")
@click.option("--read-only", is_flag=True,
              help="Pages only: no pause, answer, restart or resume from the browser.")
@click.option("--token", envvar="GRAMMARFLOW_TOKEN", default=None, show_envvar=True,
              help="The token a browser or script needs (default: a random one, printed).")
def serve_cmd(db: str, host: str, port: int, read_only: bool, token: str | None) -> None:
    """Serve the runs of the journal in the browser: each run's live picture (every
    possible future drawn), its timeline, its tasks, and — unless --read-only — buttons
    to pause, unpause, answer, restart and resume, which do what the commands of the
    same names do. Every request needs the token printed at start. Ctrl-C stops it."""
    from grammarflow.web import serve

    with _errors_reported(False):
        serve(Path(db), host, port, read_only=read_only, token=token,
              said=lambda text: click.echo(text, err=True))
