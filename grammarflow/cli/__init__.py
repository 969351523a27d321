"""The command line: parse, call the library, print. Every command has ``--json``.

The commands and their exit codes: docs/operations.md. Every error is one line
``error: ...`` on stderr; with ``--json`` also ``{"error": ...}`` on stdout, usage errors
included (click raises those before a command runs: ``_Commands.main`` in ``app``
catches them). ``app`` holds the group and what the commands share; each other module
adds one group of commands to it when imported.
"""

from __future__ import annotations

# Importing a command module adds its commands to `main`.
from grammarflow.cli import (  # noqa: F401
    analyzing,
    checking,
    controls,
    importing,
    rendering,
    running,
    serving,
    upgrading,
    viewing,
)
from grammarflow.cli.app import main

__all__ = ["main"]
