"""Win ratio of a hierarchical composite endpoint (Pocock et al. 2012, Eur Heart J 33:176,
doi:10.1093/eurheartj/ehr352).

Every treated patient is compared with every control patient on the components in order of
clinical importance: the first component on which the two differ decides the pair (a win or
a loss for the treated patient); a pair equal on every component is a tie. Each component is
an array with the direction in which it is better; ``inf`` is allowed (for example the time
of death of a survivor), NaN makes the pair undecided at that component.

The variance is that of the two-sample U-statistics ``p_w`` (share of pairs won) and ``p_l``
(lost), from the per-patient win and loss shares (the large-sample method of Bebu & Lachin
2016, Biostatistics 17:178, doi:10.1093/biostatistics/kxv032; the same U-statistic route as
Dong et al. 2016, Pharm Stat 15:430): ``log WR`` gets a Wald interval by the delta method,
and the test is the z-test of the net benefit ``p_w - p_l`` (Buyse 2010), which is defined
also when there are no wins or no losses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from mscsim._errors import InputError
from mscsim.trial._stats.common import (
    FloatArray,
    as_binary,
    check_level,
    emit,
    two_sided_p,
    z_quantile,
)
from mscsim.trial._stats.result import ResultMixin

Direction = Literal["higher", "lower"]


@dataclass(frozen=True, repr=False)
class WinRatioResult(ResultMixin):
    """Win ratio of treated over control.

    Attributes:
        estimate, ci_low, ci_high: win ratio ``wins / losses`` and its Wald limits (on the
            log scale); 0 or inf with NaN limits when there are no wins or no losses.
        p_value: two-sided z-test of the net benefit ``(wins - losses) / pairs``.
        wins, losses, ties: numbers of treated-control pairs; ``decided_by`` the wins plus
            losses decided at each component, in order.
        net_benefit, se_log_wr, se_net_benefit: ``p_w - p_l`` and the standard errors.
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    wins: int
    losses: int
    ties: int
    decided_by: tuple[int, ...]
    net_benefit: float
    se_log_wr: float
    se_net_benefit: float
    n_treated: int
    n_control: int
    level: float
    method: str
    warnings: tuple[str, ...]


METHOD = ("win ratio (Pocock 2012) over all treated-control pairs; Wald interval of log WR "
          "from the U-statistic variance (Bebu & Lachin 2016); p-value: z-test of the net "
          "benefit")


def _components(components: Sequence[tuple[ArrayLike, Direction]], n: int
                ) -> list[tuple[FloatArray, float]]:
    if not components:
        raise InputError("needs at least one component", field="components")
    out = []
    for k, (values, direction) in enumerate(components):
        arr = np.asarray(values, dtype=float)
        if arr.shape != (n,):
            raise InputError(f"has shape {arr.shape}, expected ({n},)",
                             field=f"components[{k}]")
        if direction not in ("higher", "lower"):
            raise InputError(f"direction {direction!r} is not 'higher' or 'lower'",
                             field=f"components[{k}]")
        out.append((arr, 1.0 if direction == "higher" else -1.0))
    return out


def pair_outcomes(components: Sequence[tuple[ArrayLike, Direction]], arm: ArrayLike
                  ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Win and loss indicator matrices ``(treated, control)`` and the pairs decided at each
    component."""
    g = as_binary(arm, "arm")
    parts = _components(components, len(g))
    treated, control = g == 1, g == 0
    undecided = np.ones((int(treated.sum()), int(control.sum())), dtype=bool)
    win = np.zeros_like(undecided)
    loss = np.zeros_like(undecided)
    decided = []
    for values, sign in parts:
        x, y = values[treated][:, None] * sign, values[control][None, :] * sign
        better, worse = undecided & (x > y), undecided & (x < y)
        win |= better
        loss |= worse
        undecided &= ~(better | worse)
        decided.append(int(better.sum() + worse.sum()))
    return win, loss, decided


def _u_variances(win: np.ndarray, loss: np.ndarray) -> tuple[float, float, float]:
    """Var(p_w), Var(p_l), Cov(p_w, p_l) of the two-sample U-statistics."""
    n1, n0 = win.shape

    def part(axis: int, n: int) -> np.ndarray:
        if n < 2:
            return np.zeros((2, 2))
        shares = np.vstack([win.mean(axis=axis), loss.mean(axis=axis)])
        return np.cov(shares) / n
    cov = part(1, n1) + part(0, n0)
    return float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1])


def win_ratio(components: Sequence[tuple[ArrayLike, Direction]], arm: ArrayLike, *,
              level: float = 0.95) -> WinRatioResult:
    """Win ratio of a hierarchical composite, treated (arm 1) over control (arm 0).

    Arguments:
        components: ``(values, "higher" | "lower")`` per component, most important first.
        arm: 1 = treated, 0 = control.
        level: confidence level.

    Returns:
        A :class:`WinRatioResult`. An empty arm: NaN estimate, p = 1, with a warning; no
        wins or no losses: WR 0 or inf, NaN limits, with a warning.

    Raises:
        InputError: arm not 0/1, a component of the wrong length or direction.
    """
    level = check_level(level)
    win, loss, decided = pair_outcomes(components, arm)
    n1, n0 = win.shape
    pairs = n1 * n0
    notes: list[str] = []
    nan = math.nan
    if pairs == 0:
        notes.append("win ratio: an arm is empty; estimate NaN, p = 1")
        return WinRatioResult(nan, nan, nan, 1.0, 0, 0, 0, tuple(decided), nan, nan, nan,
                              n1, n0, level, METHOD, emit(notes))
    wins, losses = int(win.sum()), int(loss.sum())
    p_w, p_l = wins / pairs, losses / pairs
    var_w, var_l, cov = _u_variances(win, loss)
    se_nb = math.sqrt(max(var_w + var_l - 2 * cov, 0.0))
    net = p_w - p_l
    p_value = float(two_sided_p(net / se_nb)) if se_nb > 0 else (1.0 if net == 0 else 0.0)
    if wins and losses:
        estimate = wins / losses
        se_log = math.sqrt(max(var_w / p_w**2 + var_l / p_l**2 - 2 * cov / (p_w * p_l), 0.0))
        z = z_quantile(level)
        low, high = estimate * math.exp(-z * se_log), estimate * math.exp(z * se_log)
    else:
        estimate = nan if wins == losses else (math.inf if wins else 0.0)
        se_log, low, high = nan, nan, nan
        notes.append(f"win ratio: {'no losses' if wins else 'no wins'} among {pairs} pairs; "
                     "estimate " + ("inf" if wins else ("NaN" if not losses else "0"))
                     + ", no interval")
    return WinRatioResult(float(estimate), low, high, p_value, wins, losses,
                          pairs - wins - losses, tuple(decided), net, se_log, se_nb, n1, n0,
                          level, METHOD, emit(notes))
