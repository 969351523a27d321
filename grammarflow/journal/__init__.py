"""A run's journal: the SQLite store, the state folded from it, and the operations
(pause, restart, answer) decided against it."""

__all__: list[str] = []
