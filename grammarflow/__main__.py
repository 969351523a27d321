"""`python -m grammarflow` is the `grammarflow` command."""

from grammarflow.cli import main

main()
