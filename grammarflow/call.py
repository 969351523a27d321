"""Run one function of a Python file as a task: ``python -m grammarflow.call FILE FUNC``.

Extra arguments are passed to the function as strings. The file is imported as a
module first (a workflow file defines its grammar at import; that is harmless).
"""

from __future__ import annotations

import importlib.util
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m grammarflow.call FILE FUNCTION [ARGS...]", file=sys.stderr)
        return 2
    path, name, *args = argv
    spec = importlib.util.spec_from_file_location("__grammarflow_task__", path)
    if spec is None or spec.loader is None:
        print(f"cannot import {path!r}", file=sys.stderr)
        return 2
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    func = getattr(module, name, None)
    if not callable(func):
        print(f"{path!r} has no function {name!r}", file=sys.stderr)
        return 2
    result = func(*args)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
