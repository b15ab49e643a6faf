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
PEAK_DAY_YOUNG = Target(
    "peak_viral_load_day_18_29", 5.0, 4.0, 6.0,
    "human challenge of 36 seronegative 18-29-year-olds with 10 TCID50 of a pre-Alpha strain: "
    "viral load rose steeply and peaked about 5 days after inoculation (Killingley 2022 Nat "
    "Med doi:10.1038/s41591-022-01780-9, abstract); the model's inoculum was set by hand to "
    "this, so the row is not independent; compared: median day of the viral peak of "
    "infections at 18-29 years; band: assumption")
PEAK_TO_ONSET = Target(
    "peak_viral_load_minus_onset_days", 0.0, -2.0, 2.0,
    "Neant 2021 PNAS doi:10.1073/pnas.2017962118 (655 hospitalised patients): viral load "
    "peaks at symptom onset (median); compared on hospitalised patients (band: assumption "
    "+-2 days)")
IL6_MILD = Target(
    "il6_peak_median_mild_pg_ml", math.nan, 3.7, 37.8,
    "Herold 2020 J Allergy Clin Immunol doi:10.1016/j.jaci.2020.05.008 (as digitised in "
    "Jenner 2021's repository): IL-6 3.7-37.8 pg/mL in mild disease; Herold's 89 patients "
    "were all hospitalised (Munich, Feb-Apr 2020; abstract), mild meaning not mechanically "
    "ventilated; compared: median peak IL-6 of hospitalised patients never invasively "
    "ventilated")
IL6_SEVERE = Target(
    "il6_peak_median_ventilated_pg_ml", math.nan, 27.0, 277.0,
    "Herold 2020 (as above): IL-6 27-277 pg/mL in severe disease (patients who needed "
    "mechanical ventilation); compared: median peak IL-6 of patients on invasive ventilation "
    "in the care pathway")
ADMITTED_LYMPHOPENIA = Target(
    "admitted_lymphopenia_frac", 0.832, 0.70, 0.96,
    "Guan 2020 NEJM doi:10.1056/NEJMoa2002032: 83.2% (731 of 879) with lymphocytes below "
    "1,500 per mm3 at admission, about 80% in non-severe and 96% in severe patients (Table 3, "
    "as recalled; not re-read here); compared with the same threshold (Huang 2020's 63% used "
    "1,000 per mm3 and is not comparable); band: assumption spanning Guan's subgroups")
ADMITTED_LYMPHOCYTES = Target(
    "admitted_lymphocytes_median_1e9_l", 1.0, 0.7, 1.3,
    "Guan 2020 NEJM: median lymphocyte count at admission 1,000 per mm3 (IQR 700-1,300; "
    "Table 3, as recalled; not re-read here); band: that IQR (assumption); compared: median "
    "lymphocyte count at admission of hospitalised patients")


#: Salje 2020 Tables S1-S2 (final version; as transcribed in epicentre-msf/covidestim
#: data-raw/severity/tabS1S2_Salje_2020.csv): posterior means by age band.
SALJE_SOURCE = ("Salje 2020 Science doi:10.1126/science.abc3517, Tables S1-S2 (final version, "
                "as transcribed in the epicentre-msf/covidestim data package; not read in the "
                "supplement itself)")
SALJE_AGE_BANDS = ((0, 20), (20, 30), (30, 40), (40, 50), (50, 60), (60, 70), (70, 80),
                   (80, 120))
SALJE_ICU_GIVEN_HOSP = (0.135, 0.098, 0.141, 0.198, 0.259, 0.297, 0.235, 0.046)
SALJE_ICU_CRI = ((0.110, 0.164), (0.083, 0.114), (0.128, 0.155), (0.185, 0.210),
                 (0.248, 0.270), (0.286, 0.308), (0.226, 0.244), (0.043, 0.049))
SALJE_DEATH_GIVEN_HOSP = (0.006, 0.014, 0.021, 0.036, 0.070, 0.132, 0.232, 0.384)
#: the ceiling of care is fitted on these bands (where treatment limitation is documented:
#: Lefrancq 2021 and Salje 2020 find few patients over 80 in intensive care)
CEILING_BANDS = ((60, 70), (70, 80), (80, 120))


def _band_name(low: int, high: int) -> str:
    return f"{low}_plus" if high >= 120 else f"{low}_{high - 1}"


def _widened(value: float, low: float, high: float) -> tuple[float, float]:
    """An acceptance band: the credible interval widened to at least +-25% of the value
    (assumption: the model is compared on a cohort, not on France's exact case mix)."""
    return min(low, value * 0.75), max(high, value * 1.25)


ICU_BY_AGE = tuple(
    Target(f"icu_given_hospitalised_{_band_name(*band)}", v, *_widened(v, *cri),
           f"{SALJE_SOURCE}: P(ICU | hospitalised) {v} (95% CrI {cri[0]}-{cri[1]}); band: "
           "the interval widened to +-25% (assumption)")
    for band, v, cri in zip(SALJE_AGE_BANDS, SALJE_ICU_GIVEN_HOSP, SALJE_ICU_CRI, strict=True)
    if band[0] >= 40)
HOSP_DEATH_BY_AGE = tuple(
    Target(f"death_given_hospitalised_{_band_name(*band)}", v, v / 1.5, v * 1.5,
           f"{SALJE_SOURCE}: P(death | hospitalised) {v}; band: within a factor 1.5 "
           "(assumption)")
    for band, v in zip(SALJE_AGE_BANDS, SALJE_DEATH_GIVEN_HOSP, strict=True) if band[0] >= 40)
HOSPITAL_MORTALITY = Target(
    "hospital_mortality", 0.20, 0.15, 0.26,
    "France, first wave: 18.1% of hospitalised patients died (Salje 2020, as summarised; not "
    "read in the paper), 20% in 1,321 patients in northern and eastern France (Boelle 2020 J "
    "Clin Med doi:10.3390/jcm9103148, abstract), 25% (24-26%) at the start of the epidemic "
    "in 198,846 SI-VIC hospitalisations (Lefrancq 2021 Lancet Reg Health Eur "
    "doi:10.1016/j.lanepe.2021.100087, abstract); band: their range")
ICU_GIVEN_HOSPITALISED = Target(
    "icu_given_hospitalised", 0.21, 0.15, 0.27,
    "France, first wave: 19% of hospitalised patients in ICU (Salje 2020, as summarised), "
    "25% (24-26%) at the start of the epidemic (Lefrancq 2021, abstract), about 1 in 4 "
    "(Boelle 2020, abstract), 26% of 98,366 PMSI stays of the first semester 2020 in "
    "critical care (Ouattara 2021 BMJ Open Respir Res doi:10.1136/bmjresp-2021-001002, "
    "abstract); band: assumption around these")
IMV_GIVEN_HOSPITALISED = Target(
    "imv_given_hospitalised", 0.14, 0.09, 0.20,
    "invasive ventilation among hospitalised patients: 17% mechanically ventilated (invasive "
    "or not) of 10,021 German inpatients (Karagiannidis 2020 Lancet Respir Med "
    "doi:10.1016/S2213-2600(20)30316-7, abstract); 16% on IMV at randomisation in RECOVERY "
    "(Horby 2021 NEJM doi:10.1056/NEJMoa2021436, as recalled); in France 42% of critical-care "
    "patients "
    "had IMV as highest support in surge 1 (Ann Intensive Care 2023 "
    "doi:10.1186/s13613-022-01097-3, abstract) of about 25% in critical care; band: "
    "assumption spanning these")
IMV_MORTALITY = Target(
    "imv_mortality", 0.45, 0.35, 0.56,
    "case fatality of invasively ventilated COVID-19 patients: 45% (39-52%) in a "
    "meta-analysis of 57,420 patients (Lim 2021 Am J Respir Crit Care Med "
    "doi:10.1164/rccm.202006-2405OC, abstract); 53% in Germany (Karagiannidis 2020, as "
    "reported by WIdO); 41.4% at 28 days in RECOVERY's usual-care arm (Horby 2021); 37% at "
    "day 90 in COVID-ICU (doi:10.1007/s00134-020-06294-x); band: their range")
_KARAGIANNIDIS = (
    "mortality of mechanically ventilated patients (about three quarters of them invasively) "
    "in 10,021 patients in 920 German hospitals, Feb-Apr 2020 (Karagiannidis 2020 Lancet "
    "Respir Med doi:10.1016/S2213-2600(20)30316-7, as reported by WIdO); these two figures "
    "informed the hand-set imv_hazard_factor (not fitted), so the row is not independent; "
    "band: assumption")
IMV_MORTALITY_70_79 = Target("imv_mortality_70_79", 0.63, 0.50, 0.75,
                             f"{_KARAGIANNIDIS}: 63% at 70-79 years")
IMV_MORTALITY_80_PLUS = Target("imv_mortality_80_plus", 0.72, 0.58, 0.85,
                               f"{_KARAGIANNIDIS}: 72% at 80 years or older")
SYMPTOMATIC = Target(
    "symptomatic_frac", 0.69, 0.55, 0.83,
    "share of infections that are ever symptomatic: 31% (26-37%) of infections in screened, "
    "followed defined populations stayed asymptomatic throughout, 20% (17-25%) over all 79 "
    "studies (Buitrago-Garcia 2020 PLoS Med doi:10.1371/journal.pmed.1003346, abstract); at "
    "least a third asymptomatic (Oran & Topol 2021 Ann Intern Med doi:10.7326/M20-6976, "
    "abstract); compared: infections in which type-I IFN or IL-6 ever reaches its symptom "
    "threshold; the fitting target of the IFN threshold (calibration/calibrate_symptoms.py); "
    "band: assumption spanning these")
ONSET_TO_ADMISSION = Target(
    "onset_to_admission_median_days", 6.0, 4.0, 8.0,
    "symptom onset to hospital admission: median 4 days (IQR 1-8) in ISARIC CCP-UK (Docherty "
    "2020 BMJ doi:10.1136/bmj.m1985, abstract); 7.3 days at 20-65 y and 4.5 days over 80 y in "
    "northern and eastern France (Boelle 2020, abstract); band: assumption spanning these")
ADMISSION_TO_DEATH = Target(
    "admission_to_death_median_days", 11.0, 7.0, 16.0,
    "hospital admission to death: Salje 2020 fitted a mixture in which 85% of deaths came "
    "after a mean of about 13 days (figure from the supplement, not read here); ISARIC "
    "preprint median stay 7 days; band: assumption")
LENGTH_OF_STAY = Target(
    "survivor_length_of_stay_median_days", 10.0, 6.0, 16.0,
    "hospital stay of survivors: median 7 days (IQR 4-12) in the ISARIC CCP-UK preprint "
    "(medRxiv 2020.04.23.20076042, abstract), mean 15.9 days for all patients in northern "
    "France (Boelle 2020, abstract), medians 3-10.4 days by age in Belgium (Faes 2020 IJERPH "
    "doi:10.3390/ijerph17207560, abstract); band: assumption spanning these")
ADMITTED_WITHOUT_OXYGEN = Target(
    "admitted_without_oxygen_frac", 0.24, 0.10, 0.35,
    "RECOVERY (Horby 2021 NEJM): about 24% of randomised hospitalised patients received no "
    "oxygen at randomisation (1,535 of 6,425 as recalled from the paper; not re-read here); "
    "band: assumption (randomisation came a few days after admission)")
IL6_AUC_VENTILATION = Target(
    "il6_peak_auc_for_ventilation", 0.85, 0.75, 0.97,
    "peak IL-6 as a marker of who needs mechanical ventilation among hospitalised patients: "
    "AUC 0.97 and 0.90 for maximal IL-6 before intubation in two Munich cohorts (Herold 2020 "
    "J Allergy Clin Immunol doi:10.1016/j.jaci.2020.05.008, abstract); pooled AUC of IL-6 "
    "for severe disease 0.85 (12 studies; Postgrad Med J 2022 "
    "doi:10.1136/postgradmedj-2021-139939, abstract); band: assumption spanning these; "
    "compared: AUC of peak IL-6 for invasive ventilation among the hospitalised")
CD4_SEVERE_VS_MODERATE = Target(
    "cd4_nadir_ratio_ventilated_vs_ward", 0.55, 0.3, 0.8,
    "blood CD4 counts are lower in severe than in non-severe hospitalised COVID-19 (ICU "
    "patients' CD4 and CD8 about half of non-ICU patients': Diao 2020 Front Immunol "
    "doi:10.3389/fimmu.2020.00827 and Wang F 2020 J Infect Dis doi:10.1093/infdis/jiaa150, "
    "as recalled; not re-read here); compared: median CD4 nadir of ventilated over that of "
    "ward survivors never in ICU; band: assumption")
CD8_SEVERE_VS_MODERATE = Target(
    "cd8_nadir_ratio_ventilated_vs_ward", 0.5, 0.25, 0.8,
    "as cd4_nadir_ratio_ventilated_vs_ward, for CD8 T cells (CD8 counts fall relatively more "
    "in severe disease; same sources, as recalled)")
VIRAL_CLEARED = Target(
    "viral_rna_cleared_frac", 1.0, 0.99, 1.0,
    "every immunocompetent infection clears its virus: viral RNA below 100 copies/mL for "
    "good within 60 days of infection (prolonged shedding beyond two months is seen in "
    "immunocompromised hosts; Cevik 2021 Lancet Microbe doi:10.1016/S2666-5247(20)30172-5: "
    "mean upper-respiratory shedding 17 days, maximum 83); band: assumption")
RNA_SHEDDING_OUTPATIENTS = Target(
    "rna_shedding_median_days_symptomatic_not_admitted", 17.0, 15.5, 18.6,
    "upper-respiratory RNA shedding lasts a mean of 17.0 days (95% CI 15.5-18.6) after "
    "symptom onset, 79 studies (Cevik 2021 Lancet Microbe doi:10.1016/S2666-5247(20)30172-5, "
    "abstract); k_rna_clear was set by hand to it, so the row is not independent; compared: "
    "median onset to clearance (RNA below 100 copies/mL) of symptomatic infections never "
    "admitted; band: Cevik's CI")
RNA_SHEDDING_HOSPITALISED = Target(
    "rna_shedding_median_days_hospitalised_survivors", 20.0, 16.0, 24.0,
    "hospitalised adults who survived shed viral RNA for a median of 20.0 days (IQR 17.0-24.0) "
    "after illness onset, 191 inpatients in Wuhan (Zhou F 2020 Lancet "
    "doi:10.1016/S0140-6736(20)30566-3, abstract); compared: median onset to clearance of "
    "hospitalised survivors; band: assumption (20 +- 4 days)")
VIRAL_CLEARANCE_AGE_GAP = Target(
    "viral_clearance_delay_65_plus_days", math.nan, 0.5, 10.0,
    "clearance is later in older patients (older age associated with longer shedding: Cevik "
    "2021, as recalled; Zhou 2020 Lancet median shedding 20 days in survivors); compared: "
    "median onset-to-clearance of PCR-detectable RNA at 65 or older minus under 65 among "
    "symptomatic patients; band: assumption (later by at least half a day)")
