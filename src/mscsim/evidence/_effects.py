"""Effect sizes for two-arm studies with a binary outcome (an ``escalc``-like layer).

Measures (treatment arm = group 1 = MSC, control arm = group 2):

* ``RR``: log risk ratio, ``yi = log(ai/n1) - log(ci/n2)``,
  ``vi = 1/ai - 1/n1 + 1/ci - 1/n2``;
* ``OR``: log odds ratio, ``yi = log(ai*di / (bi*ci))``, ``vi = 1/ai + 1/bi + 1/ci + 1/di``;
* ``RD``: risk difference, ``yi = ai/n1 - ci/n2``, large-sample variance
  ``vi = p1(1-p1)/n1 + p2(1-p2)/n2`` (metafor's default ``vtype="LS"``);
* ``PETO``: Peto's log odds ratio, ``yi = (ai - Ei)/Vi``, ``vi = 1/Vi`` with
  ``Ei = (ai+ci) n1/N`` and ``Vi = (ai+ci)(bi+di) n1 n2 / (N^2 (N-1))``.

Zero cells are handled exactly as metafor's ``escalc`` does (defaults ``add=1/2``,
``to="only0"``, ``drop00=False``), with one extension, ``correction="tacc"``: the
treatment-arm continuity correction of Sweeting, Sutton & Lambert (2004), where the
increment of each arm is proportional to that arm's share of the study size and the two
increments sum to ``2*add`` (1 by default). Whatever is chosen is recorded in the result
(:class:`ZeroCellHandling`) and carried into every meta-analysis result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mscsim._errors import InputError

MEASURES: tuple[str, ...] = ("RR", "OR", "RD", "PETO")
"""Supported effect-size measures."""

RATIO_MEASURES: frozenset[str] = frozenset({"RR", "OR", "PETO"})
"""Measures analysed on the log scale (results are exponentiated for display)."""

ZERO_CELL_TO: tuple[str, ...] = ("only0", "all", "if0all", "none")
"""Values of ``to`` (which studies get the continuity correction), as in metafor."""

CORRECTIONS: tuple[str, ...] = ("constant", "tacc")
"""How the increment is split: ``constant`` (``add`` to every cell, metafor) or ``tacc``
(treatment-arm continuity correction, Sweeting et al. 2004)."""

MEASURE_LABELS: dict[str, str] = {
    "RR": "risk ratio",
    "OR": "odds ratio",
    "RD": "risk difference",
    "PETO": "Peto odds ratio",
}


def normalize_measure(measure: str) -> str:
    """Return the canonical (upper-case) name of ``measure`` or raise :class:`InputError`."""
    name = str(measure).strip().upper()
    if name not in MEASURES:
        raise InputError(
            f"unknown or unsupported effect measure {measure!r} for two-arm binary data",
            field="measure",
            hint="use one of " + ", ".join(MEASURES),
        )
    return name


def is_ratio(measure: str) -> bool:
    """Whether ``measure`` is analysed on the log scale."""
    return normalize_measure(measure) in RATIO_MEASURES


@dataclass(frozen=True)
class ZeroCellHandling:
    """Zero-cell handling of an effect-size computation (defaults = metafor's ``escalc``).

    Attributes:
        add: the increment (``add`` in metafor). With ``correction="tacc"`` the two arms
            of a corrected study receive increments summing to ``2*add``.
        to: which studies are corrected: ``"only0"`` (studies with at least one zero cell),
            ``"all"`` (every study), ``"if0all"`` (every study if any study has a zero
            cell) or ``"none"``.
        drop00: drop double-zero studies (no events in both arms, or events only) from
            the analysis instead of correcting them.
        correction: ``"constant"`` (``add`` to each of the four cells) or ``"tacc"``.
    """

    add: float = 0.5
    to: str = "only0"
    drop00: bool = False
    correction: str = "constant"

    def __post_init__(self) -> None:
        if not (isinstance(self.add, int | float) and math.isfinite(self.add) and self.add >= 0):
            raise InputError(f"continuity correction must be a finite number >= 0, got "
                             f"{self.add!r}", field="add")
        if self.to not in ZERO_CELL_TO:
            raise InputError(f"unknown zero-cell option to={self.to!r}", field="to",
                             hint="use one of " + ", ".join(ZERO_CELL_TO))
        if self.correction not in CORRECTIONS:
            raise InputError(f"unknown continuity correction {self.correction!r}",
                             field="correction", hint="use one of " + ", ".join(CORRECTIONS))

    def to_dict(self) -> dict[str, Any]:
        return {"add": float(self.add), "to": self.to, "drop00": bool(self.drop00),
                "correction": self.correction}

    def describe(self) -> str:
        """One line for plots and reports."""
        if self.to == "none" or self.add == 0:
            text = "no continuity correction"
        else:
            which = {"only0": "studies with a zero cell", "all": "all studies",
                     "if0all": "all studies (some had a zero cell)"}[self.to]
            kind = (f"{self.add:g} added to each cell" if self.correction == "constant"
                    else f"treatment-arm correction (total {2 * self.add:g})")
            text = f"{kind} of {which}"
        return text + ("; double-zero studies dropped" if self.drop00 else "")


@dataclass(frozen=True)
class EffectSizes:
    """Per-study effect sizes (the analogue of metafor's ``escalc`` output).

    Arrays have one entry per input study, in input order. Studies that cannot be used
    (dropped double-zero studies, or non-finite ``yi``/``vi`` when no correction applies)
    have ``yi``/``vi`` = NaN and ``usable`` False.
    """

    measure: str
    study_id: tuple[str, ...]
    ai: np.ndarray
    n1: np.ndarray
    ci: np.ndarray
    n2: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    corrected: np.ndarray
    double_zero: np.ndarray
    zero_cell: ZeroCellHandling = field(default_factory=ZeroCellHandling)

    @property
    def usable(self) -> np.ndarray:
        return np.isfinite(self.yi) & np.isfinite(self.vi) & (self.vi > 0)

    @property
    def k(self) -> int:
        """Number of usable studies."""
        return int(self.usable.sum())

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    def subset(self, mask: np.ndarray | Sequence[bool]) -> EffectSizes:
        """The studies selected by the boolean ``mask``."""
        m = np.asarray(mask, dtype=bool)
        return EffectSizes(
            measure=self.measure,
            study_id=tuple(s for s, keep in zip(self.study_id, m, strict=True) if keep),
            ai=self.ai[m], n1=self.n1[m], ci=self.ci[m], n2=self.n2[m],
            yi=self.yi[m], vi=self.vi[m], corrected=self.corrected[m],
            double_zero=self.double_zero[m], zero_cell=self.zero_cell,
        )

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({
            "study_id": list(self.study_id),
            "ai": self.ai, "n1": self.n1, "ci": self.ci, "n2": self.n2,
            "yi": self.yi, "vi": self.vi,
            "corrected": self.corrected, "double_zero": self.double_zero,
            "usable": self.usable,
        })

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "zero_cell": self.zero_cell.to_dict(),
            "studies": [
                {"study_id": s, "ai": _num(a), "n1": _num(n1), "ci": _num(c), "n2": _num(n2),
                 "yi": _num(y), "vi": _num(v), "corrected": bool(cor),
                 "double_zero": bool(dz)}
                for s, a, n1, c, n2, y, v, cor, dz in zip(
                    self.study_id, self.ai, self.n1, self.ci, self.n2, self.yi, self.vi,
                    self.corrected, self.double_zero, strict=True)
            ],
        }


def _num(x: float) -> float | int | None:
    """A JSON-friendly number (NaN/inf become None, integral floats stay floats)."""
    xf = float(x)
    return xf if math.isfinite(xf) else None


def _as_counts(name: str, values: Any, k: int | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as err:
        raise InputError(f"counts must be numbers ({err})", field=name) from None
    if k is not None and arr.size != k:
        raise InputError(f"expected {k} values, got {arr.size}", field=name)
    if not np.all(np.isfinite(arr)):
        raise InputError("counts must be finite (missing values are not allowed)",
                         field=name)
    if np.any(arr < 0):
        raise InputError("counts must be >= 0", field=name)
    return arr


def double_zero_mask(ai: np.ndarray, n1: np.ndarray, ci: np.ndarray,
                     n2: np.ndarray) -> np.ndarray:
    """Double-zero studies as metafor defines them: no events in either arm, or only events."""
    bi, di = n1 - ai, n2 - ci
    return ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))


def zero_cell_mask(ai: np.ndarray, n1: np.ndarray, ci: np.ndarray,
                   n2: np.ndarray) -> np.ndarray:
    """Studies with at least one zero cell in the 2x2 table."""
    bi, di = n1 - ai, n2 - ci
    return (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)


def _increments(n1: np.ndarray, n2: np.ndarray, handling: ZeroCellHandling,
                target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-study increments for the treatment and the control arm (0 where not corrected)."""
    if handling.correction == "tacc":
        inc1 = 2.0 * handling.add * n1 / (n1 + n2)
        inc2 = 2.0 * handling.add * n2 / (n1 + n2)
    else:
        inc1 = np.full(n1.shape, float(handling.add))
        inc2 = np.full(n2.shape, float(handling.add))
    return np.where(target, inc1, 0.0), np.where(target, inc2, 0.0)


def escalc(
    measure: str,
    ai: Any,
    n1: Any,
    ci: Any,
    n2: Any,
    *,
    study_id: Sequence[Any] | None = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    correction: str = "constant",
) -> EffectSizes:
    """Compute per-study effect sizes from 2x2 counts (metafor ``escalc`` semantics).

    Arguments:
        measure: ``"RR"``, ``"OR"``, ``"RD"`` or ``"PETO"``.
        ai, n1: events and size of the treatment (MSC) arm.
        ci, n2: events and size of the control arm.
        study_id: study labels (default ``"1"``, ``"2"``, ...).
        add, to, drop00, correction: zero-cell handling, see :class:`ZeroCellHandling`.

    Returns:
        :class:`EffectSizes`; studies whose effect size cannot be computed (for example
        a zero cell with ``to="none"``, or a dropped double-zero study) have NaN ``yi``.
    """
    name = normalize_measure(measure)
    handling = ZeroCellHandling(add=add, to=to, drop00=bool(drop00), correction=correction)
    a = _as_counts("ai", ai, None)
    k = a.size
    nn1 = _as_counts("n1", n1, k)
    c = _as_counts("ci", ci, k)
    nn2 = _as_counts("n2", n2, k)
    if np.any(a > nn1):
        i = int(np.argmax(a > nn1))
        raise InputError(f"study {i + 1}: more events ({a[i]:g}) than patients ({nn1[i]:g}) "
                         "in the treatment arm", field="ai")
    if np.any(c > nn2):
        i = int(np.argmax(c > nn2))
        raise InputError(f"study {i + 1}: more events ({c[i]:g}) than patients ({nn2[i]:g}) "
                         "in the control arm", field="ci")
    if np.any(nn1 == 0) or np.any(nn2 == 0):
        raise InputError("every arm needs at least one patient", field="n1/n2")
    ids = (tuple(str(s) for s in study_id) if study_id is not None
           else tuple(str(i + 1) for i in range(k)))
    if len(ids) != k:
        raise InputError(f"expected {k} study ids, got {len(ids)}", field="study_id")

    dz = double_zero_mask(a, nn1, c, nn2)
    zc = zero_cell_mask(a, nn1, c, nn2)
    if handling.to == "all":
        target = np.ones(k, dtype=bool)
    elif handling.to == "only0":
        target = zc.copy()
    elif handling.to == "if0all":
        target = np.full(k, bool(np.any(zc & ~(dz & handling.drop00))))
    else:
        target = np.zeros(k, dtype=bool)
    if handling.drop00:
        target &= ~dz
    if handling.add == 0:
        target[:] = False
    inc1, inc2 = _increments(nn1, nn2, handling, target)
    # the corrected table: events and non-events of each arm each get the arm's increment
    a_c, b_c = a + inc1, (nn1 - a) + inc1
    c_c, d_c = c + inc2, (nn2 - c) + inc2
    m1, m2 = a_c + b_c, c_c + d_c
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = a_c / m1, c_c / m2
        if name == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1.0 / a_c - 1.0 / m1 + 1.0 / c_c - 1.0 / m2
        elif name == "OR":
            yi = np.log(p1 / (1.0 - p1)) - np.log(p2 / (1.0 - p2))
            vi = 1.0 / a_c + 1.0 / b_c + 1.0 / c_c + 1.0 / d_c
        elif name == "RD":
            yi = p1 - p2
            vi = p1 * (1.0 - p1) / m1 + p2 * (1.0 - p2) / m2
        else:  # PETO
            tot = m1 + m2
            xt, yt = a_c + c_c, b_c + d_c
            ei = xt * m1 / tot
            var = xt * yt * (m1 / tot) * (m2 / tot) / (tot - 1.0)
            yi = (a_c - ei) / var
            vi = 1.0 / var
    # like metafor, keep finite values (a zero variance makes the study unusable for
    # pooling, see EffectSizes.usable) and turn the rest into NaN
    bad = ~(np.isfinite(yi) & np.isfinite(vi))
    if handling.drop00:
        bad |= dz
    yi = np.where(bad, np.nan, yi)
    vi = np.where(bad, np.nan, vi)
    return EffectSizes(measure=name, study_id=ids, ai=a, n1=nn1, ci=c, n2=nn2, yi=yi, vi=vi,
                       corrected=target, double_zero=dz, zero_cell=handling)


def escalc_frame(table: pd.DataFrame, measure: str, **zero_cell: Any) -> EffectSizes:
    """:func:`escalc` on a DataFrame with columns ``study_id, ai, n1, ci, n2``."""
    missing = [c for c in ("ai", "n1", "ci", "n2") if c not in table.columns]
    if missing:
        raise InputError("the comparison table lacks the count columns " + ", ".join(missing),
                         field="table")
    ids = table["study_id"].astype(str).tolist() if "study_id" in table.columns else None
    cols = []
    for c in ("ai", "n1", "ci", "n2"):
        try:  # nullable integer columns (Int64) included
            cols.append(pd.to_numeric(table[c]).to_numpy(dtype=float, na_value=np.nan))
        except (TypeError, ValueError):
            raise InputError("counts must be numbers", field=c) from None
    return escalc(measure, *cols, study_id=ids, **zero_cell)
