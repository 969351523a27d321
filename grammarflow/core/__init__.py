"""The grammar core: graphs, grammars, derivations and the raw-change search.

Pure: no I/O, no asyncio, no clock — so every theorem of proofs/ can be fuzzed here.
Everything else in grammarflow depends on it, never the reverse (docs/architecture.md).
"""

__all__: list[str] = []
