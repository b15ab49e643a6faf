"""Trial specifications: a TOML file validated by pydantic models.

Every table and key is checked (unknown keys are errors); a validation error becomes one
:class:`mscsim.InputError` naming the dotted field (``allocation.ratio.msc``) and, where the
key can be found in the file, its line.

Validation is strict: a number must be a TOML number (``sample_size = "10"`` and
``doses = true`` are errors, not coerced), every number must be finite (``nan`` and ``inf``
are refused), and the fields that size the work (``population.n_infections``,
``allocation.block_size``) are checked against :mod:`mscsim._limits` before anything runs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mscsim._errors import InputError
from mscsim._limits import check_limit, over_limit
from mscsim.model import ERAS, standard_of_care_of_period
from mscsim.trial._published import check_evidence_study

#: follow-up days at which all-cause mortality can be an endpoint
MORTALITY_DAYS = (14, 28, 30, 60, 90)
WHO_DAYS = (14, 28)
BIOMARKER_DAYS = (3, 6, 14)
BIOMARKERS = ("il6", "tnf", "il10", "lymphocytes")
MAX_FOLLOW_UP_DAYS = 90.0
#: how a change endpoint treats death before its day (ICH E9(R1) strategies): ``composite``
#: (worst rank, the default), ``while_alive`` (the last value alive), ``survivors`` (deaths
#: left out: a sensitivity analysis, since it conditions on survival)
DEATH_STRATEGIES = ("composite", "while_alive", "survivors")
DeathStrategy = Literal["composite", "while_alive", "survivors"]
#: the comparisons of the win ratio's hierarchy (``endpoints.win_ratio_order``), default order
WinComponent = Literal["death_d28", "vfd_d28", "who_d28"]
WIN_COMPONENTS: tuple[WinComponent, ...] = ("death_d28", "vfd_d28", "who_d28")
#: largest relative allocation of one arm (a ratio of 1e308 overflowed the ratio sum)
MAX_RATIO = 1000.0


def endpoint_names() -> tuple[str, ...]:
    """Every endpoint a spec may name (see ``docs/trials.md`` for definitions)."""
    names = [f"mortality_d{d}" for d in MORTALITY_DAYS]
    names += ["survival"]
    names += [f"who_d{d}" for d in WHO_DAYS]
    names += ["time_to_improvement", "vfd_d28", "daoh_d28", "win_ratio_d28", "pf_change_d7"]
    names += [f"{b}_change_d{d}" for b in BIOMARKERS for d in BIOMARKER_DAYS]
    return tuple(names)


def endpoint_min_follow_up(name: str) -> float:
    """Follow-up (days after randomisation) an endpoint needs."""
    match = re.search(r"_d(\d+)$", name)
    return float(match.group(1)) if match else 0.0


BackgroundCare = Literal["era", "none", "dexamethasone", "dexamethasone+tocilizumab"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class TrialInfo(_Strict):
    """What the design is and which published trial it mirrors."""

    name: str = Field(min_length=1, description="short identifier, e.g. 'leng2020'")
    title: str = Field("", description="one-line description")
    mirrors: str = Field("", description="citation of the published trial mirrored")
    evidence_study: str | None = Field(
        None, description="the mirrored trial's study_id in the evidence dataset "
        "(mscsim/evidence/data/studies.csv, e.g. 'Monsel2022'): the report shows its "
        "published deaths beside the virtual trial's")
    notes: str = Field("", description="design choices and deviations from the publication")
    enrolment_period: tuple[dt.date, dt.date] | None = Field(
        None, strict=False, description="first and last day of the published trial's enrolment "
                          "(ISO dates); sets the default background care")
    background_care: BackgroundCare = Field(
        "era", description="standard of care every patient receives when eligible: 'none', "
        "'dexamethasone', 'dexamethasone+tocilizumab', or 'era' (default): that in force at "
        "the midpoint of enrolment_period, or the current one (dexamethasone+tocilizumab) "
        "for a design without a period; eras in docs/trials.md")

    @field_validator("evidence_study")
    @classmethod
    def _study_in_dataset(cls, study_id: str | None) -> str | None:
        return None if study_id is None else check_evidence_study(study_id)

    @model_validator(mode="after")
    def _period_in_order(self) -> TrialInfo:
        if self.enrolment_period and self.enrolment_period[1] < self.enrolment_period[0]:
            raise ValueError("enrolment_period ends before it starts")
        return self

    @property
    def standard_of_care(self) -> str:
        """The background care the trial's patients receive."""
        if self.background_care != "era":
            return self.background_care
        if self.enrolment_period is None:
            return ERAS[-1][1]
        return standard_of_care_of_period(*self.enrolment_period)


class PopulationSpec(_Strict):
    """The screened cohort: generated here, or read from a population folder."""

    source: Literal["generate", "folder"] = Field(
        "generate", description="'generate' a population of infections, or read a 'folder' "
                                "written by `mscsim population generate`")
    n_infections: int | None = Field(None, gt=0, description="infections to generate "
                                     "(source = 'generate'); about 3-15% are admitted")
    seed: int = Field(1, ge=0, description="population seed (source = 'generate')")
    days: float = Field(60.0, ge=30, description="population horizon after infection")
    calibration: Literal["salje", "levin"] = Field(
        "salje", description="calibration profile of the death hazard (source = 'generate'): "
                             "'salje' (France, community infections; default) or 'levin' "
                             "(Levin 2020 IFR by age); see docs/population.md")
    backend: Literal["roadrunner", "compiled"] = Field(
        "roadrunner", description="simulation back end of the population (source = "
                                  "'generate'); trial arms are always simulated by roadrunner")
    path: str | None = Field(None, description="population folder (source = 'folder'); "
                             "relative paths are relative to the spec file")

    @field_validator("n_infections")
    @classmethod
    def _n_infections_limit(cls, value: int | None) -> int | None:
        message = None if value is None else over_limit(value, "n_infections")
        if message:
            raise ValueError(message)
        return value

    @model_validator(mode="after")
    def _source_fields(self) -> PopulationSpec:
        if self.source == "generate" and self.n_infections is None:
            raise ValueError("source = 'generate' needs n_infections")
        if self.source == "folder" and not self.path:
            raise ValueError("source = 'folder' needs path")
        return self


ArdsBand = Literal["none", "mild", "moderate", "severe"]


class Eligibility(_Strict):
    """Inclusion criteria, judged on the untreated course at the enrolment time."""

    hypoxaemia: bool = Field(True, description="require SpO2 < 94% or P/F < 300 mmHg")
    pf_max: float | None = Field(None, gt=0, description="require P/F below this (mmHg)")
    pf_min: float | None = Field(None, ge=0, description="require P/F at or above this")
    ards: list[ArdsBand] | None = Field(
        None, description="Berlin P/F bands allowed: none (>= 300), mild (200-300), "
                          "moderate (100-200), severe (< 100); default any")
    ventilated: bool | None = Field(None, description="true: on invasive ventilation (care "
                                    "pathway) at "
                                    "enrolment; false: not ventilated; default either")
    age_min: float = Field(18.0, ge=0, description="minimum age (years)")
    age_max: float = Field(120.0, gt=0, description="maximum age (years)")

    @model_validator(mode="after")
    def _ranges(self) -> Eligibility:
        if self.age_min >= self.age_max:
            raise ValueError("age_min must be below age_max")
        if self.pf_min is not None and self.pf_max is not None and self.pf_min >= self.pf_max:
            raise ValueError("pf_min must be below pf_max")
        return self


class Enrolment(_Strict):
    """When patients are randomised, relative to hospital admission or to intubation."""

    anchor: Literal["admission", "ventilation"] = Field(
        "admission", description="the event the window counts from: hospital admission, or "
                                 "the start of invasive ventilation (trials of ventilated "
                                 "patients; only patients ever ventilated are assessed)")
    window_days: tuple[float, float] = Field(
        (0.0, 2.0), strict=False,  # a TOML array is a list
        description="[earliest, latest] delay from the anchor to randomisation (days); each "
                    "patient's delay is drawn from the seed on a 6-hour grid")

    @model_validator(mode="after")
    def _window(self) -> Enrolment:
        lo, hi = self.window_days
        if lo < 0 or hi < lo or hi > 30:
            raise ValueError("window_days must satisfy 0 <= earliest <= latest <= 30")
        return self


class Arm(_Strict):
    """One arm. ``doses = 0`` (or no dose) is placebo: no cells."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", description="arm label")
    control: bool = Field(False, description="the control (placebo) arm")
    dose_cells_per_kg: float | None = Field(None, ge=0, description="dose per infusion, "
                                            "cells per kg of body weight")
    dose_cells: float | None = Field(None, ge=0, description="dose per infusion, absolute "
                                     "cells (converted with each patient's weight)")
    doses: int = Field(0, ge=0, le=20, description="number of infusions")
    interval_days: float = Field(0.0, ge=0, description="days between infusions")
    first_dose_day: float = Field(0.0, ge=0, description="first infusion, days after "
                                  "randomisation")

    @model_validator(mode="after")
    def _regimen(self) -> Arm:
        if self.dose_cells_per_kg is not None and self.dose_cells is not None:
            raise ValueError("give dose_cells_per_kg or dose_cells, not both")
        has_dose = (self.dose_cells_per_kg or self.dose_cells or 0) > 0 and self.doses > 0
        if self.control and has_dose:
            raise ValueError("the control arm gets no cells (placebo)")
        if not self.control and not has_dose:
            raise ValueError("an MSC arm needs a positive dose and doses >= 1")
        if self.doses > 1 and self.interval_days <= 0:
            raise ValueError("several doses need interval_days > 0")
        return self

    def offsets(self) -> list[float]:
        """Infusion days after randomisation."""
        return [self.first_dose_day + k * self.interval_days for k in range(self.doses)]

    def cells_per_kg(self, body_weight_kg: float) -> float:
        if self.dose_cells_per_kg is not None:
            return float(self.dose_cells_per_kg)
        return float(self.dose_cells or 0.0) / body_weight_kg


class Allocation(_Strict):
    """Allocation ratio (per arm name) and method."""

    ratio: dict[str, Annotated[float, Field(gt=0, le=MAX_RATIO)]] = Field(
        description="relative allocation per arm, e.g. {msc = 7, placebo = 3}")
    method: Literal["simple", "blocks"] = Field("blocks", description="simple randomisation "
                                                "or permuted blocks")
    block_size: int | None = Field(None, gt=0, description="permuted-block size, a multiple "
                                   "of the ratio sum (default: the ratio sum)")

    @field_validator("block_size")
    @classmethod
    def _block_size_limit(cls, value: int | None) -> int | None:
        message = None if value is None else over_limit(value, "block_size")
        if message:
            raise ValueError(message)
        return value


EndpointName = Literal[endpoint_names()]  # type: ignore[valid-type]
ChangeEndpointName = Literal[tuple(n for n in endpoint_names()  # type: ignore[valid-type]
                                   if "_change_d" in n)]


class Endpoints(_Strict):
    """The primary endpoint (power is computed for it) and the secondary ones."""

    primary: EndpointName = Field(description="primary endpoint")  # type: ignore[valid-type]
    secondary: list[EndpointName] | Literal["all"] = Field(  # type: ignore[valid-type]
        "all", description="secondary endpoints, or 'all' that the follow-up allows")
    death_strategy: dict[ChangeEndpointName, DeathStrategy] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="per change endpoint, how a death before its day is analysed: "
                    "'composite' (default: worst rank, deaths below every survivor, the "
                    "earlier worse), 'while_alive' (the last value alive) or 'survivors' "
                    "(deaths left out; a sensitivity analysis); see docs/trials.md")
    win_ratio_order: list[WinComponent] = Field(
        default_factory=lambda: list(WIN_COMPONENTS), min_length=1, max_length=3,
        description="the comparisons of win_ratio_d28, most important first: 'death_d28' "
                    "(the later death by day 28 wins), 'vfd_d28' (more ventilator-free days "
                    "wins), 'who_d28' (the lower WHO level on day 28 wins); each at most once")

    @model_validator(mode="after")
    def _win_order(self) -> Endpoints:
        if len(set(self.win_ratio_order)) != len(self.win_ratio_order):
            raise ValueError(f"endpoints.win_ratio_order names a comparison twice: "
                             f"{', '.join(self.win_ratio_order)}")
        return self


class Analysis(_Strict):
    """Analysis options."""

    alpha: float = Field(0.05, gt=0, lt=0.5, description="two-sided significance level")
    level: float = Field(0.95, gt=0.5, lt=1, description="confidence level")
    binary_test: Literal["fisher", "wald"] = Field(
        "fisher", description="p-value of binary endpoints: Fisher's exact test or the "
                              "Wald test of the log risk ratio")


class TrialSpec(_Strict):
    """A virtual trial design."""

    trial: TrialInfo
    population: PopulationSpec
    eligibility: Eligibility = Field(default_factory=lambda: Eligibility.model_validate({}))
    enrolment: Enrolment = Field(default_factory=lambda: Enrolment.model_validate({}))
    arms: list[Arm] = Field(min_length=2, max_length=2, description="exactly two arms: one "
                            "control (placebo) and one MSC regimen")
    allocation: Allocation
    sample_size: int = Field(gt=1, description="patients randomised")
    follow_up_days: float = Field(28.0, gt=0, le=MAX_FOLLOW_UP_DAYS,
                                  description="follow-up after randomisation (days)")
    endpoints: Endpoints
    analysis: Analysis = Field(default_factory=lambda: Analysis.model_validate({}))
    seed: int = Field(ge=0, description="trial seed: enrolment delays, sampling, allocation")

    @model_validator(mode="after")
    def _consistent(self) -> TrialSpec:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        if sum(a.control for a in self.arms) != 1:
            raise ValueError("exactly one arm must have control = true")
        if set(self.allocation.ratio) != set(names):
            raise ValueError(f"allocation.ratio must name every arm ({', '.join(names)}) "
                             f"and no other, got {', '.join(self.allocation.ratio)}")
        if self.allocation.method == "blocks":
            if any(abs(r - round(r)) > 1e-9 for r in self.allocation.ratio.values()):
                raise ValueError("permuted blocks need whole-number ratios")
            total = int(round(sum(self.allocation.ratio.values())))
            size = self.allocation.block_size or total
            if size % total:
                raise ValueError(f"block_size {size} is not a multiple of the ratio sum "
                                 f"{total}")
        for name in [self.endpoints.primary, *self.secondary_endpoints(strict=True)]:
            need = endpoint_min_follow_up(name)
            if need > self.follow_up_days:
                raise ValueError(f"endpoint {name} needs follow_up_days >= {need:g}")
        chosen = self.all_endpoints()
        for name in self.endpoints.death_strategy:
            if name not in chosen:
                raise ValueError(f"endpoints.death_strategy names {name}, which is not an "
                                 f"endpoint of this trial")
        for arm in self.arms:
            if any(d > self.follow_up_days for d in arm.offsets()):
                raise ValueError(f"arm {arm.name}: an infusion falls after the follow-up")
        return self

    # ------------------------------------------------------------------ helpers
    @property
    def control(self) -> Arm:
        return next(a for a in self.arms if a.control)

    @property
    def treated(self) -> Arm:
        return next(a for a in self.arms if not a.control)

    def secondary_endpoints(self, strict: bool = False) -> list[str]:
        if self.endpoints.secondary == "all":
            chosen = [n for n in endpoint_names()
                      if endpoint_min_follow_up(n) <= self.follow_up_days]
        else:
            chosen = list(self.endpoints.secondary)
        return [n for n in chosen if n != self.endpoints.primary]

    def all_endpoints(self) -> list[str]:
        return [self.endpoints.primary, *self.secondary_endpoints()]

    def death_strategy(self, name: str) -> str | None:
        """How endpoint ``name`` treats death before its day (None: not a change endpoint)."""
        if "_change_d" not in name:
            return None
        return str(self.endpoints.death_strategy.get(name, DEATH_STRATEGIES[0]))

    def treated_fraction(self) -> float:
        ratio = self.allocation.ratio
        return ratio[self.treated.name] / sum(ratio.values())


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _line_of(text: str, loc: tuple[Any, ...], *, missing: bool = False) -> int | None:
    """1-based line of the key at ``loc`` in the TOML ``text`` (best effort).

    A key is looked for only inside its own table (from the table's header to the next
    header); a ``missing`` key is reported at its table's header, or nowhere for a missing
    top-level key.
    """
    keys = [k for k in loc if isinstance(k, str)]
    if not keys:
        return None
    lines = text.splitlines()
    headers = [(i, m.group(1)) for i, ln in enumerate(lines) if (m := _HEADER.match(ln))]
    table, key = (keys[0], keys[-1]) if len(keys) > 1 else (None, keys[0])
    if table is None:  # top level: the lines before the first header
        sections = [(0, headers[0][0] if headers else len(lines))]
    else:
        starts = [i for i, name in headers if name == table]
        if not starts:
            return None
        arm = next((k for k in loc if isinstance(k, int)), 0)
        start = starts[min(arm, len(starts) - 1)]
        end = next((i for i, _ in headers if i > start), len(lines))
        sections = [(start, end)]
        if missing:
            return start + 1
    if missing:
        return None
    pattern = re.compile(r"(^|[\s{,])" + re.escape(key) + r"\s*=")
    for start, end in sections:
        for i in range(start, end):
            if pattern.search(lines[i]):
                return i + 1
    if table is not None:  # an inline key (ratio.msc) or a value error of the table itself
        for i in range(sections[0][0], sections[0][1]):
            if re.search(r"(^|[\s{,])" + re.escape(keys[-2] if len(keys) > 2 else key)
                         + r"\s*=", lines[i]):
                return i + 1
        return sections[0][0] + 1
    return None


def _depth(data: Any) -> int:
    """Nesting depth of parsed TOML (tables and arrays), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        children = value.values() if isinstance(value, dict) else \
            value if isinstance(value, list) else ()
        stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return deepest


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for k in loc:
        if isinstance(k, int):
            out += f"[{k}]"
        else:
            out += ("." if out else "") + str(k)
    return out


def spec_from_dict(data: dict[str, Any], *, file: str | Path | None = None,
                   text: str | None = None) -> TrialSpec:
    """Validate a parsed spec.

    Raises:
        InputError: the first validation error, naming the field (and line when ``text``).
    """
    try:
        return TrialSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(k for k in first["loc"] if not (isinstance(k, str) and "[" in k))
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        elif first["type"] == "missing":
            message = "required field is missing"
        field = _dotted(loc) or None
        line = _line_of(text, loc, missing=first["type"] == "missing") \
            if text is not None else None
        more = len(err.errors()) - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise InputError(message, field=field, file=file, line=line) from None


def load_spec(reference: str | Path) -> TrialSpec:
    """Read and validate a TOML trial spec: a file, or the name of a shipped design
    (``"leng2020"``; see :func:`mscsim.trial.design_names`).

    A ``population.path`` relative to the spec's folder is resolved.

    Raises:
        InputError: neither a file nor a shipped design, TOML syntax error (with line),
            validation error (field, line).
    """
    from mscsim.trial._designs import design_path

    path = design_path(reference)
    check_limit(path.stat().st_size, "spec_bytes", file=path, what="the trial spec's size")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", file=path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"at line (\d+)", str(err))
        line = int(found.group(1)) if found else None
        msg = str(err).split(" (at line")[0]
        raise InputError(f"invalid TOML: {msg}", file=path, line=line) from None
    except RecursionError:
        raise InputError("invalid TOML: arrays or tables nested too deep to read", file=path,
                         hint="a trial spec nests a few levels at most") from None
    check_limit(_depth(data), "toml_depth", file=path,
                what="the nesting depth of arrays and tables")
    spec = spec_from_dict(data, file=path, text=text)
    pop = spec.population
    if pop.source == "folder" and pop.path and not Path(pop.path).is_absolute():
        resolved = str((path.parent / pop.path).resolve())
        spec = spec.model_copy(update={"population": pop.model_copy(update={"path": resolved})})
    return spec


def spec_json_schema() -> dict[str, Any]:
    """The JSON schema of a trial spec (exported to ``docs/trial_spec.schema.json``)."""
    schema = TrialSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mscsim trial spec"
    return schema


def spec_json_schema_text() -> str:
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
