"""Other tools' formats: WfFormat instances in (``import wfformat``)."""

from __future__ import annotations

from grammarflow.formats.wfformat import import_wfformat, read_instance

__all__ = ["import_wfformat", "read_instance"]
