import pytest

from grammarflow import BrokenPromise, Diff, TaskSpec, add, define, repeat_parallel, repeat_series
from grammarflow.match import diff_of
from grammarflow.steps import Expand, Grow


def map_grammar():
    return define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))


@pytest.mark.parametrize("n", [1, 2, 7])
def test_a_map_of_n_is_n_expansions(n: int) -> None:
    d = map_grammar().derivation()
    names = {f"m{i}": "M" for i in range(n)}
    edges = [e for m in names for e in (("A", m), (m, "B"))]
    added = add(d, diff_of(names, edges))
    assert [type(s) for s in added.steps] == [Expand] * n
    assert len(set(added.ids.values())) == n
    assert sorted(d.graph.edges()) == sorted(
        (added.ids.get(u, u), added.ids.get(v, v)) for u, v in edges)


def test_a_map_of_zero_is_the_ordering_edge() -> None:
    d = map_grammar().derivation()
    added = add(d, diff_of({}, [("A", "B")]))
    assert added.steps == (Expand("Ms.1", "1"),)
    assert not d.graph.holes


def test_an_extra_edge_is_refused_and_leaves_nothing() -> None:
    d = map_grammar().derivation()
    before = d.graph.to_json()
    with pytest.raises(BrokenPromise, match="not produced: edge m0 -> m1") as e:
        add(d, diff_of({"m0": "M", "m1": "M"},
                       [("A", "m0"), ("m0", "B"), ("A", "m1"), ("m1", "B"), ("m0", "m1")]))
    assert e.value.hole == "Ms.1"
    assert d.graph.to_json() == before


def test_a_missing_edge_is_refused_with_the_edge_named() -> None:
    d = map_grammar().derivation()
    with pytest.raises(BrokenPromise) as e:
        add(d, diff_of({"m": "M"}, [("A", "m")]))
    assert any("needs edge m -> B" in a.reason for a in e.value.attempts)


def test_a_wrong_kind_is_refused_with_the_kind_named() -> None:
    d = map_grammar().derivation()
    with pytest.raises(BrokenPromise) as e:
        add(d, diff_of({"q": "Q"}, [("A", "q"), ("q", "B")]))
    assert any("needs a new task of kind M" in a.reason for a in e.value.attempts)


def test_a_series_is_explained_step_by_step() -> None:
    d = define("A, B, Ss(A, B)", repeat_series("Ss", "S")).derivation()
    added = add(d, diff_of({"s1": "S", "s2": "S", "s3": "S"},
                           [("A", "s1"), ("s1", "s2"), ("s2", "s3"), ("s3", "B")]))
    assert len(added.steps) == 4  # three S, then the closing a -> b
    assert not d.graph.holes


def test_elements_listed_out_of_order_are_still_explained() -> None:
    # C can only come from the hole that B's production creates: the search must wait.
    g = define("s, e, X(s, e)", """
        X(a, b) ::= a -> B -> b, Y(a, B)
        Y(a, b) ::= a -> C -> b | nothing
    """)
    d = g.derivation()
    added = add(d, diff_of({"c": "C", "b": "B"}, [("c", "b"), ("s", "c"), ("s", "b"), ("b", "e")]))
    assert added.ids == {"b": "X.1/B", "c": "X.1/Y.1/C"}


def test_edges_already_present_are_no_ops() -> None:
    d = define("A -> B", []).derivation()
    assert add(d, diff_of({}, [("A", "B")])).steps == ()


def test_a_change_where_no_hole_is_attached_is_refused_plainly() -> None:
    d = define("A, B", []).derivation()
    with pytest.raises(BrokenPromise, match="no hole that could take it is attached"):
        add(d, diff_of({"n": "N"}, [("A", "n")]))


@pytest.mark.parametrize(("diff", "expected"), [
    (diff_of({"A": "M"}, []), "already a node id"),
    (diff_of({"n": "M"}, [("n", "n")]), "cycle of one task"),
    (diff_of({"n": "M"}, [("n", "nowhere")]), "neither a new task"),
    (diff_of({"../x": "M"}, []), "not a valid name"),
    (diff_of({"n": "<b>"}, []), "not a valid name"),
    (diff_of({"n": "M", "o": "M"}, [("n", "o"), ("o", "n")]), "has a cycle"),
])
def test_malformed_changes_are_refused_before_any_search(diff: Diff, expected: str) -> None:
    with pytest.raises(BrokenPromise, match=expected):
        add(map_grammar().derivation(), diff)


def test_a_raw_change_through_an_open_hole_is_grown() -> None:
    d = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= *").derivation()
    added = add(d, Diff((TaskSpec("x", "X", {"k": 1}),), (("s", "x"), ("x", "e"))))
    assert isinstance(added.steps[0], Grow)
    assert added.ids == {"x": "Dyn.1/x"}
    assert d.graph.tasks["Dyn.1/x"].attrs == {"k": 1}


def test_the_search_budget_refuses_instead_of_running_away() -> None:
    g = define("s, e, Ms(s, e)", repeat_parallel("Ms", "M"))
    names = {f"m{i}": "M" for i in range(200)}
    edges = [e for m in names for e in (("s", m), (m, "e"))] + [("m0", "m1")]
    with pytest.raises(BrokenPromise, match="within 50 search steps; name the productions"):
        add(g.derivation(), diff_of(names, edges), budget=50)
    # with the default budget the search finishes and names what no step produces
    with pytest.raises(BrokenPromise, match="not produced: edge m0 -> m1"):
        add(g.derivation(), diff_of(names, edges))


def test_attrs_of_new_tasks_reach_the_graph() -> None:
    d = map_grammar().derivation()
    added = add(d, Diff((TaskSpec("m", "M", {"item": 3}),), (("A", "m"), ("m", "B"))))
    assert d.graph.tasks[added.ids["m"]].attrs == {"item": 3}
