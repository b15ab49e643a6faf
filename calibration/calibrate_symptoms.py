"""Fit the type-I IFN symptom threshold to the share of infections that are ever symptomatic.

    python calibration/calibrate_symptoms.py [--n 20000] [--seed 20200301] [--write]

Target: 69% of infections ever symptomatic (31% of infections in screened, followed
populations stayed asymptomatic; Buitrago-Garcia 2020 PLoS Med
doi:10.1371/journal.pmed.1003346; the row ``symptomatic_frac`` of docs/validation.md).

A patient is symptomatic while type-I IFN is at least ``ifn_symptom_threshold`` or IL-6 at
least ``il6_symptom_threshold`` (:func:`mscsim.model.symptomatic`). The ODE does not depend on
either threshold, so one population (default calibration, no background therapy, as the
population calibration simulates) gives each patient's peak IL-6 and IFN, and the threshold
follows exactly (:func:`mscsim.population.symptom_threshold_for_share`). The threshold decides
who is admitted with pneumonia, so run this before ``calibrate_population.py`` and once more
after it (the IFN shift that calibration fits moves the peaks a little). ``--write`` puts the
value into the parameter table.
"""

from __future__ import annotations

import sys

import numpy as np
from _parameter_table import parameter_fit_arguments, write_values

from mscsim.model import load_model
from mscsim.population import GenerationOptions, generate_population, symptom_threshold_for_share
from mscsim.population._targets import SYMPTOMATIC


def main(argv: list[str] | None = None) -> int:
    args = parameter_fit_arguments(__doc__, seed=20200301).parse_args(argv)
    defaults = load_model().parameter_defaults
    ok = generate_population(args.n, args.seed, options=GenerationOptions(days=60),
                             workers=args.workers).ok
    il6, ifn = ok.peak_il6_pg_ml.to_numpy(), ok.peak_ifn_pg_ml.to_numpy()
    il6_threshold = defaults["il6_symptom_threshold"]
    now = float(np.mean((il6 >= il6_threshold) | (ifn >= defaults["ifn_symptom_threshold"])))
    threshold = symptom_threshold_for_share(il6, ifn, il6_threshold, SYMPTOMATIC.value)
    print(f"{len(ok)} infections: {np.mean(il6 >= il6_threshold):.3f} symptomatic by IL-6 "
          f"alone; {now:.3f} symptomatic at ifn_symptom_threshold "
          f"{defaults['ifn_symptom_threshold']:.4g}")
    print(f"peak IFN quantiles 10/50/90%: {np.round(np.quantile(ifn, [0.1, 0.5, 0.9]), 3)}")
    print(f"fitted: ifn_symptom_threshold={threshold:.4f} pg/mL for a share of "
          f"{SYMPTOMATIC.value}")
    if args.write:
        write_values({"ifn_symptom_threshold": (threshold, (
            f"fitted (calibration/calibrate_symptoms.py, n={args.n}, seed={args.seed}) so that "
            f"{SYMPTOMATIC.value:.0%} of infections are ever symptomatic (Buitrago-Garcia 2020 "
            "PLoS Med doi:10.1371/journal.pmed.1003346); type-I IFN causes the systemic "
            "flu-like symptoms of early infection, and asymptomatic infections have weaker "
            "innate and cytokine responses (Long 2020 Nat Med doi:10.1038/s41591-020-0965-6, "
            "as recalled)"))})
    return 0


if __name__ == "__main__":
    sys.exit(main())
