"""The picture: the graph as it stands with every hole a wildcard (DOT, SVG, PNG), and
the page that steps through a run's pictures."""

__all__: list[str] = []
