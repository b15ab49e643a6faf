"""Calibrate the effect sizes of the background therapies to the trials that established them.

    python calibration/calibrate_standard_of_care.py [--n 20000] [--seed 20200616] [--write]

Targets (28-day mortality rate ratios, randomised, open label):

- dexamethasone vs usual care among patients receiving oxygen without invasive ventilation at
  randomisation: RR 0.82 (0.72-0.94); RECOVERY, Horby et al. 2021 NEJM
  doi:10.1056/NEJMoa2021436 (23.3% vs 26.2%). Fitted: ``dex_emax``.
- tocilizumab vs usual care in hypoxic patients with CRP >= 75 mg/L, 82% of them on
  corticosteroids: RR 0.85 (0.76-0.94); RECOVERY Collaborative Group 2021 Lancet
  doi:10.1016/S0140-6736(21)00676-0 (31% vs 35%). Fitted: ``toci_emax``, with dexamethasone
  in both arms.

A virtual RECOVERY: hospitalised patients of a population generated without background
therapy are "randomised" when they first need oxygen (P/F below ``soc_start_pf``, the moment
the model starts the therapy); each is simulated with and without the therapy, and the
28-day mortality after randomisation is ``1 - exp(-(H(t0 + 28) - H(t0)))`` from the
cumulative hazard under support ``H`` (:func:`mscsim.model.pathway_and_death`), averaged
over patients (the expected value of the population's death draw). The tocilizumab stratum
is patients whose IL-6 reaches ``toci_il6_threshold`` while they need oxygen. ``--write``
puts the fitted values into the parameter table.
"""

from __future__ import annotations

import sys

import numpy as np
from _parameter_table import parameter_fit_arguments, write_values
from scipy.optimize import brentq

from mscsim.model import PATHWAY_INPUTS, PathwayRules, hazard_under_support, load_model
from mscsim.population import PARAMETER_COLUMNS, GenerationOptions, generate_population
from mscsim.simulate import output_times, simulate_batch

DEX_RR, TOCI_RR = 0.82, 0.85


def randomised_cohort(n: int, seed: int, workers: int | None):
    population = generate_population(n, seed, options=GenerationOptions(
        days=60, backend="compiled"), workers=workers)
    ok = population.ok
    cohort = ok[ok.hospitalised & (ok.min_pf_ratio_mmhg < load_model().parameter_defaults[
        "soc_start_pf"])]
    return [{c: float(row[c]) for c in PARAMETER_COLUMNS} for _, row in cohort.iterrows()]


def mortality_28(params: list[dict[str, float]], overrides: dict[str, float],
                 t0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient: 28-day death probability after ``t0`` (default: the first time on the
    grid with P/F below the therapy threshold), ``t0`` and whether IL-6 met the tocilizumab
    criterion while on oxygen."""
    model = load_model()
    times = output_times(88, 4)
    outputs = list(dict.fromkeys((*PATHWAY_INPUTS, "il6_pg_ml", "cum_hazard")))
    batch = simulate_batch(model, [{**p, **overrides} for p in params], times=times,
                           outputs=outputs, backend="compiled")
    get = {name: batch.values[:, :, k] for k, name in enumerate(outputs)}
    pf, il6 = get["pf_ratio_mmhg"], get["il6_pg_ml"]
    rules = PathwayRules.from_parameters(model.parameter_defaults)
    hazard = hazard_under_support({name: get[name] for name in PATHWAY_INPUTS}, get["cum_hazard"],
                                  times, np.array([p.get("imv_available", 1.0) for p in params]),
                                  rules)
    start = model.parameter_defaults["soc_start_pf"]
    hypoxic = pf < start
    if t0 is None:
        t0 = times[np.argmax(hypoxic, axis=1)]
    i0 = np.searchsorted(times, t0)
    i28 = np.searchsorted(times, t0 + 28)
    rows = np.arange(len(params))
    p = 1 - np.exp(-(hazard[rows, i28] - hazard[rows, i0]))
    inflamed = (hypoxic & (il6 >= model.parameter_defaults["toci_il6_threshold"])).any(axis=1)
    return p, t0, inflamed


def main(argv: list[str] | None = None) -> int:
    args = parameter_fit_arguments(__doc__, seed=20200616).parse_args(argv)
    params = randomised_cohort(args.n, args.seed, args.workers)
    print(f"virtual RECOVERY: {len(params)} hospitalised patients needing oxygen "
          f"(of {args.n} infections)", flush=True)
    control, t0, inflamed = mortality_28(params, {"dexamethasone": 0, "tocilizumab": 0})

    def dex_rr(emax: float) -> float:
        treated, _, _ = mortality_28(params, {"dexamethasone": 1, "dex_emax": emax}, t0)
        rr = float(treated.mean() / control.mean())
        print(f"  dex_emax {emax:.4f}: 28-day mortality {treated.mean():.3f} vs "
              f"{control.mean():.3f}, RR {rr:.3f}", flush=True)
        return rr

    dex_emax = float(brentq(lambda e: dex_rr(e) - DEX_RR, 0.0, 0.99, xtol=1e-3))
    stratum = [p for p, keep in zip(params, inflamed, strict=True) if keep]
    base = {"dexamethasone": 1, "dex_emax": dex_emax}
    dex_only, t0_toci, _ = mortality_28(stratum, {**base, "tocilizumab": 0}, t0[inflamed])
    print(f"tocilizumab stratum: {len(stratum)} patients (IL-6 >= threshold on oxygen)")

    def toci_rr(emax: float) -> float:
        treated, _, _ = mortality_28(stratum, {**base, "tocilizumab": 1, "toci_emax": emax},
                                     t0_toci)
        rr = float(treated.mean() / dex_only.mean())
        print(f"  toci_emax {emax:.4f}: RR {rr:.3f}", flush=True)
        return rr

    if toci_rr(0.99) > TOCI_RR:
        print("tocilizumab: even full IL-6 receptor blockade does not reach RR "
              f"{TOCI_RR}; toci_emax left unchanged")
        toci_emax = None
    else:
        toci_emax = float(brentq(lambda e: toci_rr(e) - TOCI_RR, 0.0, 0.99, xtol=1e-3))
    print(f"fitted: dex_emax={dex_emax:.4f}, toci_emax={toci_emax}")
    if args.write:
        write_values({"dex_emax": (dex_emax, f"calibrated (calibration/calibrate_standard_of"
                                   f"_care.py, n={args.n}, seed={args.seed}, {len(params)} "
                                   "patients) to RECOVERY dexamethasone: 28-day RR 0.82 "
                                   "(0.72-0.94) in patients on oxygen (Horby 2021 NEJM "
                                   "doi:10.1056/NEJMoa2021436); mechanism: glucocorticoid "
                                   "suppression of monocyte recruitment and macrophage "
                                   "IL-6/TNF")},
                     ) if toci_emax is None else write_values({
            "dex_emax": (dex_emax, f"calibrated (calibration/calibrate_standard_of_care.py, "
                         f"n={args.n}, seed={args.seed}) to RECOVERY dexamethasone: 28-day RR "
                         "0.82 (0.72-0.94) in patients on oxygen (Horby 2021 NEJM "
                         "doi:10.1056/NEJMoa2021436); mechanism: glucocorticoid suppression "
                         "of monocyte recruitment and macrophage IL-6/TNF"),
            "toci_emax": (toci_emax, "calibrated (same script) to RECOVERY tocilizumab: "
                          "28-day RR 0.85 (0.76-0.94) in hypoxic patients with CRP >= 75 "
                          "mg/L, with dexamethasone in both arms (RECOVERY 2021 Lancet "
                          "doi:10.1016/S0140-6736(21)00676-0)")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
