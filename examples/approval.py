"""Wait for a person: approve is answered by someone, not run by a process.

    grammarflow run examples/approval.py        # build runs; the run stops waiting (exit 4)
    grammarflow answer 1 approve true           # or false (checked: approve gives a bool)
    grammarflow resume 1                        # ship runs only if approved

While `grammarflow run` still runs other tasks, the answer is taken at once and the run
goes on. The release hole's guard reads the answer: a person's choice is a promise like
any other.
"""

from grammarflow import Kind, define

grammar = define("build -> approve, done, Release(approve, done)", """
    Release(a, b) ::= [ship, when a] a -> ship -> b | [hold, else] a -> b
""")
kinds = {"approve": Kind(ask="Ship this build to production? (true or false)", output=bool)}


def build() -> str:
    return "build 1.4.2"


def ship() -> None:
    print("shipped")


def done() -> None:
    pass
