"""A workflow as the user writes it: the grammar plus kinds (what each task runs),
its declared data types, and what a workflow file gets inside a task process."""

__all__: list[str] = []
