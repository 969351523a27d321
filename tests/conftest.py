import os

import pytest
from hypothesis import HealthCheck, Phase, settings

# CI: a fixed example budget and no deadline (2 shared cores must never flake a test).
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# By hand, for deep fuzzing: HYPOTHESIS_PROFILE=thorough bash dev.sh test
settings.register_profile(
    "thorough", max_examples=5000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=30, deadline=None, print_blob=True)
# bench/mutants.py: the CI budget and seeds, without shrinking (a property that fails
# under a planted bug has caught it; making the example small would only cost minutes).
settings.register_profile(
    "mutants", parent=settings.get_profile("ci"),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config: object, items: list) -> None:  # type: ignore[type-arg]
    """GRAMMARFLOW_PROPERTIES_ONLY=1 keeps only the Hypothesis properties: what
    bench/mutants.py runs to see which planted checker bugs the properties alone catch.
    The thorough profile lifts the per-test timeout (5000 examples take longer than
    the 300 s that stops a hung test in CI)."""
    if settings().max_examples > 1000:
        for item in items:
            item.add_marker(pytest.mark.timeout(0))
    if os.environ.get("GRAMMARFLOW_PROPERTIES_ONLY") != "1":
        return
    items[:] = [item for item in items
                if getattr(getattr(item, "obj", None), "is_hypothesis_test", False)]


def pytest_report_header(config: object) -> str | None:
    if os.environ.get("GRAMMARFLOW_PROPERTIES_ONLY") != "1":
        return None
    import grammarflow

    return f"properties only; grammarflow from {os.path.dirname(grammarflow.__file__)}"
