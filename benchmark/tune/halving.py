r"""Synchronous successive halving: the rungs and who goes on (``tuning.halving``).

With ``min_epochs`` :math:`r_0`, factor :math:`\eta` and the tuning budget of :math:`E`
epochs, the rungs are :math:`r_k = r_0 \eta^k` for every :math:`r_k < E`, then :math:`E`
itself. Every trial of a round (``tuning.batch`` trials) runs to :math:`r_0` epochs; of the
:math:`n` trials at a rung, the :math:`\max(1, \lfloor n/\eta \rfloor)` best by score (mean
validation accuracy over the trial's seeds; ties: the lower trial number; a failed trial never
goes on) run on to the next rung; the rest are *stopped*. Decisions are made only once every
run of the rung is stored (a barrier), so they depend on the scores alone, never on which
run finished first.

A run at rung :math:`r_k < E` is the trial's :math:`E`-epoch run stopped after :math:`r_k`
epochs (``RunSpec.stop_epoch``: the learning-rate schedule still spans :math:`E` epochs). A
trial that goes on is run again from its start (no checkpoints are kept; training is
deterministic, so its first :math:`r_k` epochs repeat the stopped run's): the compute a trial
costs is the sum of its runs' epochs, :math:`\sum_{j \le k} r_j` per seed, and every stopped
trial's epochs count in its optimizer's tuning cost.
"""

from __future__ import annotations

from collections.abc import Mapping

from benchmark.grid_rungs import rungs


def keep_count(n: int, eta: int) -> int:
    r""":math:`\max(1, \lfloor n/\eta \rfloor)`: how many of ``n`` trials go on."""
    return max(1, n // eta)


def promote(scores: Mapping[int, float | None], eta: int) -> list[int]:
    """The trial numbers that go on from a rung whose trials scored ``scores`` (``None``: the
    trial failed), best first: the :func:`keep_count` highest, ties to the lower number."""
    scored = [(score, number) for number, score in scores.items() if score is not None]
    ranked = sorted(scored, key=lambda s: (-s[0], s[1]))
    return [number for _, number in ranked[: keep_count(len(scores), eta)]]


__all__ = ["keep_count", "promote", "rungs"]
