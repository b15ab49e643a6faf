"""Published calibration targets for the population, each with its citation."""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVIN_INTERCEPT, LEVIN_SLOPE = -3.27, 0.0524


def levin_ifr(age: float) -> float:
    """Infection fatality ratio (a fraction) at ``age`` by the meta-regression of Levin et al.
    2020 (Eur J Epidemiol, doi:10.1007/s10654-020-00698-1): log10 IFR(%) = -3.27 + 0.0524 age
    (0.002% at 10 y, 0.4% at 55, 1.4% at 65, 4.6% at 75, 15% at 85)."""
    return 10 ** (LEVIN_INTERCEPT + LEVIN_SLOPE * age) / 100.0


@dataclass(frozen=True)
class Target:
    """A published value with an acceptance band; ``value`` is NaN where the publication
    gives only a range (the band)."""

    name: str
    value: float
    low: float
    high: float
    source: str

    @property
    def log_sd(self) -> float:
        """Spread on the log scale implied by the interval (as if it were a 95% interval)."""
        return math.log(self.high / self.low) / (2 * 1.96)


HOSPITALISED = Target(
    "hospitalised_frac", 0.029, 0.024, 0.035,
    "Salje 2020 Science doi:10.1126/science.abc3517: 2.9% of infections hospitalised "
    "(interval: assumption +-20%; the erratum doi:10.1126/science.abd4246 revised it to 3.6%)")
HOSPITALISED_MEAN_AGE = Target(
    "hospitalised_mean_age", 68.0, 64.0, 72.0,
    "Salje 2020: mean age of hospitalised patients 68 years (interval: assumption +-4 y)")
IFR = Target(
    "ifr", 0.005, 0.003, 0.009,
    "Salje 2020: IFR 0.5% (95% CrI 0.3-0.9%; the erratum revised it to 0.7%)")
DEATHS_MEAN_AGE = Target(
    "deaths_mean_age", 79.0, 75.0, 83.0,
    "Salje 2020: mean age of the deceased 79 years (interval: assumption +-4 y)")
IFR_AGES = (35, 45, 55, 65, 75, 85)
IFR_BY_AGE = tuple(
    Target(f"ifr_age_{a}", levin_ifr(a), levin_ifr(a) / 1.5, levin_ifr(a) * 1.5,
           "Levin 2020 meta-regression; acceptance band: within a factor 1.5; simulated as "
           "Levin's serosurvey-based sources measured it (all deaths over community "
           "infections scaled to the whole population; the plain IFR in a cohort without "
           "care-home residents)")
    for a in IFR_AGES)
IFR_85_ALL_INFECTIONS = Target(
    "ifr_age_85_all_infections", levin_ifr(85), levin_ifr(85) / 1.5, levin_ifr(85) * 1.5,
    "Levin 2020 at 85 years; simulated over all infections aged 80-90, care-home residents "
    "included (not as serosurveys measure it)")
IFR_80_PLUS = Target(
    "ifr_age_80_plus", 0.083, 0.047, 0.135,
    "Salje 2020: IFR 8.3% (95% CrI 4.7-13.5%) at 80 years or older (the erratum revised it "
    "to 10.1%)")
CARE_HOME_IFR = Target(
    "care_home_ifr", 0.17, 0.10, 0.25,
    "infected care-home residents, first wave (median age about 88): French EHPAD deaths per "
    "reported infection about 18% in the first wave and 10% in the second, with wider testing "
    "(14,650/80,100 and ~15,000/144,400: DREES Etudes et Resultats 1196, 2021); 16% 14-day "
    "fatality in whole-home PCR testing in London (17/105, Ladhani 2020 EClinicalMedicine "
    "26:100533), 24.9% in Catalonia (PMC8842505); central value and band: assumption")
CARE_HOME_DEATH_SHARE = Target(
    "care_home_death_share", 0.51, 0.40, 0.60,
    "share of France's first-wave COVID-19 deaths that were care-home residents: about 15,000 "
    "(in the home or in hospital; DREES Etudes et Resultats 1196, 2021) of 29,186 deaths to "
    "31 May 2020 (18,861 in hospital + 10,335 in care homes, Sante publique France); band: "
    "assumption")
INCUBATION_MEDIAN = Target(
    "incubation_median_days", 5.1, 4.5, 5.8,
    "Lauer 2020 Ann Intern Med: median incubation 5.1 days (interval 4.5-5.8: the "
    "recalled 95% CI, not verified here)")
PEAK_VIRAL_LOAD = Target(
    "peak_viral_load_log10_median", 8.5, 8.0, 9.5,
    "Wolfel 2020 Nature (max 7.1e8 copies/swab); model notes: peak 1e8-1e9.5 copies/mL; "
    "compared on hospitalised patients, as Wolfel's were")
PEAK_TO_ONSET = Target(
    "peak_viral_load_minus_onset_days", 0.0, -2.0, 2.0,
    "Neant 2021 PNAS doi:10.1073/pnas.2017962118 (655 hospitalised patients): viral load "
    "peaks at symptom onset (median); compared on hospitalised patients (band: assumption "
    "+-2 days)")
IL6_MILD = Target(
    "il6_peak_median_mild_pg_ml", math.nan, 3.7, 37.8,
    "Herold 2020 J Allergy Clin Immunol (as digitised in Jenner 2021's repository): IL-6 "
    "3.7-37.8 pg/mL in mild disease; compared: median peak IL-6 of symptomatic patients "
    "never admitted")
IL6_SEVERE = Target(
    "il6_peak_median_ventilated_pg_ml", math.nan, 27.0, 277.0,
    "Herold 2020 (as above): IL-6 27-277 pg/mL in severe disease (patients who needed "
    "mechanical ventilation); compared: median peak IL-6 of ventilated patients (P/F < 100)")
ADMITTED_LYMPHOPENIA = Target(
    "admitted_lymphopenia_frac", 0.832, 0.63, 0.96,
    "Guan 2020 NEJM: 83.2% lymphopenic at admission (range across studies 63% Huang 2020 to "
    "96% in ICU, Pan 2022)")
