"""The command group `main` and what every command shares.

Exit codes, the common options (--db, --json, --zygote, --engine), run ids, JSON output,
and errors: each one line ``error: ...`` on stderr, with ``--json`` also
``{"error": ...}`` on stdout (``_Commands.main`` catches click's usage errors for it).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from grammarflow.errors import GrammarflowError, KindError
from grammarflow.journal.database import DB_ENV, DEFAULT_DB

__all__ = [
    "EXIT_BROKEN_PROMISE",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_USAGE",
    "MAX_RUN_ID",
    "RUN_ID",
    "_Commands",
    "_RunId",
    "_emit",
    "_error",
    "_errors",
    "_errors_reported",
    "_run_id",
    "_write_output",
    "dask_option",
    "db_option",
    "engine_option",
    "is_workflow_file",
    "json_option",
    "main",
    "zygote_option",
]


EXIT_OK = 0
EXIT_BROKEN_PROMISE = 3
EXIT_USAGE = 2
EXIT_OUTPUT = 1  # the picture or page could not be made or written
db_option = click.option("--db", default=DEFAULT_DB, show_default=True, envvar=DB_ENV,
                         show_envvar=True, type=click.Path(dir_okay=False),
                         help="The SQLite file holding runs and their journals.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
zygote_option = click.option(
    "--zygote/--no-zygote", default=True, show_default=True,
    help="Fork function tasks from a warm zygote that imported the workflow file once "
         "(~2 ms a task instead of a fresh interpreter's start and imports); "
         "--no-zygote spawns every task fresh (for code that is not fork-safe; "
         "Kind(zygote=False) does it for one kind).")

dask_option = click.option(
    "--dask", metavar="ADDRESS", default=None,
    help="Run the tasks on a Dask cluster: its scheduler's address (tcp://host:8786), or "
         "local:N for a local cluster of N worker processes (docs/cluster.md).")
engine_option = click.option(
    "--engine", type=click.Choice(["podman", "docker"]), default=None,
    help="The container engine that runs container kinds (Kind(image=...)); "
         "default: podman, else docker, whichever is installed.")

#: The largest run id: SQLite's largest integer (2^63 - 1).
MAX_RUN_ID = 2 ** 63 - 1


def _run_id(text: str) -> int | None:
    """``text`` as a run id (digits only, 1 to MAX_RUN_ID), or None.

    >>> _run_id("12"), _run_id("0"), _run_id("-1"), _run_id(str(2 ** 63)), _run_id("x")
    (12, None, None, None, None)
    """
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_RUN_ID else None


def is_workflow_file(target: str, as_json: bool) -> bool:
    """Whether TARGET names a workflow file (else it is a run id); anything that is
    neither ends the command as a usage error saying so."""
    if target.endswith(".py") or Path(target).is_file():
        return True
    if _run_id(target) is None:
        _error(f"{target!r} is neither a workflow file nor a run id (a whole number from 1 "
               f"to {MAX_RUN_ID})", EXIT_USAGE, as_json)
    return False


class _RunId(click.IntRange):
    """A run id argument: anything else (a number SQLite cannot hold, a negative one, a
    word) is a usage error saying what was given, never a traceback."""

    name = "run id"


RUN_ID = _RunId(min=1, max=MAX_RUN_ID)


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


class _Commands(click.Group):
    """The command group. With ``--json`` a usage error (an unknown option, a missing
    argument, a bad value) is also JSON on stdout: click raises it before any
    command runs, so it is caught here."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or "--json" not in argv:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except click.UsageError as e:
            usage = e.ctx.get_usage() if e.ctx is not None else None
            _error(e.format_message(), e.exit_code, True, usage=usage)
        except click.ClickException as e:
            _error(e.format_message(), e.exit_code, True)
        except click.Abort:
            _error("aborted", 1, True)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


@click.group(cls=_Commands)
@click.version_option(package_name="grammarflow")
def main() -> None:
    """grammarflow: workflows whose shape is a graph grammar."""
    # Text from tasks may hold lone surrogates (valid JSON escapes, not encodable):
    # print them as escapes rather than die in the middle of a listing.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


@contextlib.contextmanager
def _errors_reported(as_json: bool) -> Iterator[None]:
    """A GrammarflowError (a bad workflow file, a database that cannot be read, no such
    run) ends the command with its message and exit status 2, never a traceback."""
    try:
        yield
    except KindError as e:
        _errors(e.problems, EXIT_USAGE, as_json)
    except GrammarflowError as e:
        _error(str(e), EXIT_USAGE, as_json)


def _error(message: str, code: int, as_json: bool, **extra: Any) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if as_json:
        _emit({"error": message, **extra})
    sys.exit(code)


def _errors(messages: tuple[str, ...], code: int, as_json: bool, **extra: Any) -> NoReturn:
    """Several errors found at once: one ``error:`` line each; with ``--json`` one
    object whose ``error`` holds them all and ``errors`` each one."""
    for message in messages:
        click.echo(f"error: {message}", err=True)
    if as_json:
        _emit({"error": "\n".join(messages), "errors": list(messages), **extra})
    sys.exit(code)


def _write_output(path: str, data: bytes, as_json: bool) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        _error(f"cannot write {path!r}: {e.strerror or e}", EXIT_OUTPUT, as_json)
