"""The options of a meta-analysis of the evidence dataset, checked when they are made.

:class:`MetaAnalysisOptions` is what :func:`mscsim.evidence.analyse_outcome`,
:func:`~mscsim.evidence.analyse_subgroups` and :func:`~mscsim.evidence.cumulative_by_date`
take, and what every ``mscsim evidence`` analysis command builds from its options.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mscsim._errors import InputError
from mscsim.evidence._dataset import FILTER_KEYS, check_timepoint
from mscsim.evidence._effects import ZeroCellHandling
from mscsim.evidence._meta import FitControl, check_level, default_drop00, pooled_measure

Filters = Mapping[str, str | Iterable[str]]


def parse_filters(items: Sequence[str] | Filters | None) -> dict[str, list[str]]:
    """``["design=RCT", "severity=critical", "severity=severe"]`` ->
    ``{"design": ["RCT"], "severity": ["critical", "severe"]}`` (a repeated key matches any
    of its values). Keys are checked against ``FILTER_KEYS``; values by the loader."""
    if items is None:
        return {}
    out: dict[str, list[str]] = {}
    if isinstance(items, Mapping):
        pairs = [(k, v) for k, vals in items.items()
                 for v in ([vals] if isinstance(vals, str | int) else list(vals))]
    else:
        pairs = []
        for item in items:
            if "=" not in item:
                raise InputError(f"bad filter '{item}': expected KEY=VALUE", field="--filter",
                                 hint="e.g. --filter design=RCT; keys: " + ", ".join(FILTER_KEYS))
            key, _, value = item.partition("=")
            pairs.append((key.strip(), value.strip()))
    for key, value in pairs:
        if key not in FILTER_KEYS:
            raise InputError(f"unknown filter key '{key}'", field="--filter",
                             hint="allowed keys: " + ", ".join(FILTER_KEYS))
        if str(value) == "":
            raise InputError(f"empty value for filter '{key}'", field="--filter")
        out.setdefault(key, []).append(str(value))
    return out


@dataclass(frozen=True)
class MetaAnalysisOptions:
    """How to meta-analyse an outcome of the evidence dataset; every field is checked on
    construction, so bad options fail before any data is read.

    Attributes:
        measure: ``RR`` (default; ``PETO`` with ``method="PETO"``), ``OR``, ``RD``, ``PETO``.
        method: a tau^2 method (``REML`` default, ``DL``, ``PM``, ``ML``, ``HE``, ``SJ``),
            ``FE``/``EE`` (inverse variance), ``MH`` or ``PETO``.
        knha: Hartung-Knapp adjustment (random-effects methods).
        timepoint: target day (``None``: each study's longest timepoint up to 90 days).
        filters: ``["design=RCT", ...]`` or ``{"design": "RCT"}``.
        level: confidence level (``95`` is read as ``0.95``, as metafor does).
        add, to, drop00, correction: zero-cell handling (see
            :class:`mscsim.evidence.ZeroCellHandling`); ``drop00=None`` is metafor's
            default for the method.
        control: numerical settings of the iterative estimators.

    Raises:
        InputError: naming the field that is wrong.
    """

    measure: str | None = None
    method: str = "REML"
    knha: bool = False
    timepoint: int | None = None
    filters: Sequence[str] | Filters | None = field(default=None, hash=False)
    level: float = 0.95
    add: float = 0.5
    to: str = "only0"
    drop00: bool | None = None
    correction: str = "constant"
    control: FitControl | None = None

    def __post_init__(self) -> None:
        pooled_measure(self.measure, self.method)
        if not isinstance(self.knha, bool):
            raise InputError(f"knha must be True or False, got {self.knha!r}", field="knha")
        check_timepoint(self.timepoint)
        parse_filters(self.filters)
        check_level(self.level)
        if self.drop00 is not None and not isinstance(self.drop00, bool):
            raise InputError(f"drop00 must be True, False or None, got {self.drop00!r}",
                             field="drop00")
        ZeroCellHandling(add=self.add, to=self.to, correction=self.correction)
        if self.control is not None and not isinstance(self.control, FitControl):
            raise InputError(f"control must be a FitControl, got {type(self.control).__name__}",
                             field="control")

    @property
    def test(self) -> str:
        """The test of the pooled estimate: ``"knha"`` or ``"z"``."""
        return "knha" if self.knha else "z"

    @property
    def effect_measure(self) -> str:
        """The measure the method pools (``measure`` with its default resolved)."""
        return pooled_measure(self.measure, self.method)

    @property
    def zero_cell(self) -> ZeroCellHandling:
        """The zero-cell handling, with ``drop00``'s default for the method resolved."""
        drop00 = default_drop00(self.method) if self.drop00 is None else self.drop00
        return ZeroCellHandling(add=self.add, to=self.to, drop00=drop00,
                                correction=self.correction)

    @property
    def selection(self) -> dict[str, list[str]]:
        """The filters as ``{key: [values]}``."""
        return parse_filters(self.filters)
