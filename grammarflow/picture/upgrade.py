"""The picture of an upgrade: the run re-derived under the new version, every hole a
wildcard, the alternatives each hole gains marked new, those that change marked so,
those it loses drawn in red,
tasks the new version adds marked (docs/operations.md, "Upgrading a run")."""

from __future__ import annotations

from grammarflow.journal.upgrading import UpgradePlan
from grammarflow.picture.render import Picture, to_dot

__all__ = ["upgrade_dot"]


def upgrade_dot(run_id: int, plan: UpgradePlan) -> str:
    """The DOT of the run as the upgrade would leave it — or, when its journal does not
    re-derive under the new version, as it stands — titled with the verdict."""
    v = plan.verdict
    title = (f"run {run_id}: version {plan.old.version} -> {plan.new.version} "
             f"({plan.new.path.name}): {v.verdict.upper()}")
    d = v.derivation if plan.after is None else plan.after.d
    futures = plan.futures
    if d is None or futures is None:
        was = plan.before.d
        return to_dot(was.graph, was.grammar, Picture(alternatives=True,
                                                      title=f"{title} — {v.reason}"), was.limits)
    changes = {c.hole: (frozenset(c.added), frozenset(n for n, _, _ in c.changed), c.removed)
               for c in futures.holes}
    picture = Picture(alternatives=True, title=title, changes=changes,
                      added=frozenset(futures.tasks_new))
    return to_dot(d.graph, d.grammar, picture, d.limits)
