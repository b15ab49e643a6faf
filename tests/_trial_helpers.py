"""Shared, cheap inputs for the trial-runner tests.

``severe_population`` is a hand-made population of variants of the model's reference severe
patient (no population generation, no calibration dependence): most are admitted, about a
third die untreated, and MSC change their course, so small trials have something to find.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscsim.model import load_model
from mscsim.population import Population, write_population
from mscsim.simulate import output_times, simulate_batch
from mscsim.trial import TrialSpec, spec_from_dict

BASE_SPEC: dict[str, Any] = {
    "seed": 5,
    "sample_size": 12,
    "follow_up_days": 28,
    "trial": {"name": "tiny"},
    "population": {"source": "folder", "path": "unused"},
    "eligibility": {"hypoxaemia": True},
    "enrolment": {"window_days": [0, 1]},
    "arms": [{"name": "msc", "dose_cells_per_kg": 2e6, "doses": 2, "interval_days": 2},
             {"name": "placebo", "control": True}],
    "allocation": {"ratio": {"msc": 1, "placebo": 1}, "method": "blocks", "block_size": 4},
    "endpoints": {"primary": "mortality_d28"},
}


def spec(**changes: Any) -> TrialSpec:
    """The base spec with top-level keys replaced."""
    data = copy.deepcopy(BASE_SPEC)
    data.update(changes)
    return spec_from_dict(data)


@functools.lru_cache(maxsize=2)
def severe_population(n: int = 48, seed: int = 3) -> Population:
    model = load_model()
    base = model.patient("reference-severe").parameters
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        rows.append({
            "p_ifn": float(base["p_ifn"]) * float(np.exp(rng.normal(0, 0.25))),
            "k_cd8_kill": float(base["k_cd8_kill"]) * float(np.exp(rng.normal(0, 0.2))),
            "p_il6_mac": float(base["p_il6_mac"]) * float(np.exp(rng.normal(0, 0.2))),
            "hazard_multiplier": 1.5 * float(np.exp(rng.normal(0, 0.4))),
            "body_weight_kg": float(rng.uniform(55, 95)),
            "imv_available": 1.0, "dexamethasone": 0.0, "tocilizumab": 0.0,
            "lymphocyte_baseline_factor": 1.0, "k_ab_neut": model.parameter_defaults["k_ab_neut"],
        })
    params = pd.DataFrame(rows)
    times = output_times(40, 4)
    batch = simulate_batch(model, params, times=times, outputs=["spo2_pct", "pf_ratio_mmhg"])
    hypox = (batch.output("spo2_pct") < 94) | (batch.output("pf_ratio_mmhg") < 300)
    admission = np.where(hypox.any(axis=1), times[hypox.argmax(axis=1)], np.nan)
    table = pd.DataFrame({
        "patient": np.arange(n), "status": "ok", "age": rng.uniform(40, 90, n),
        "male": rng.random(n) < 0.5, "hypertension": False, "diabetes": False,
        "obesity": False, **{c: params[c] for c in params.columns},
        "death_threshold": rng.exponential(size=n), "admission_day": admission,
        "hospitalised": np.isfinite(admission), "died": False,
    })
    manifest = {"kind": "mscsim.population", "n": n, "seed": seed,
                "parameter_columns": list(params.columns), "represents": "test variants"}
    return Population(patients=table, manifest=manifest)


def population_folder(folder: Path, n: int = 48) -> Path:
    return write_population(severe_population(n), folder, overwrite=True)


def tiny_spec_file(root: Path, **trial: str) -> Path:
    """A spec file of 8 patients (``root/tiny.toml``) screening a small population folder
    (``root/pop``); ``trial`` adds to its trial section (name tiny)."""
    population_folder(root / "pop")
    data = copy.deepcopy(BASE_SPEC)
    data["population"] = {"source": "folder", "path": "pop"}
    data["sample_size"] = 8
    data["trial"] = {"name": "tiny", "mirrors": "nothing: a test design", **trial}
    path = root / "tiny.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def toml_text(data: dict[str, Any]) -> str:
    """A small TOML writer for the spec dictionaries used in tests."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return repr(v)
    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict | list)
             or (isinstance(v, list) and not (v and isinstance(v[0], dict)))]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines.append(f"\n[[{k}]]")
                lines += [f"{kk} = {value(vv)}" for kk, vv in item.items()]
    return "\n".join(lines) + "\n"
