"""Other tools' formats: WfFormat instances in (``import wfformat``), and checked
against a grammar (``conform``)."""

from __future__ import annotations

from grammarflow.formats.conform import conform
from grammarflow.formats.wfformat import import_wfformat, read_instance

__all__ = ["conform", "import_wfformat", "read_instance"]
