"""Reports and plots, each drawn from tables the API returns."""

from mscsim.report._course import PANELS, plot_course
from mscsim.report._flagship import first_day_below, flagship_report, flagship_trial

__all__ = ["PANELS", "first_day_below", "flagship_report", "flagship_trial", "plot_course"]
