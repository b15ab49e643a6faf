"""Reports and plots, each drawn from tables the API returns."""

from mscsim.report._course import PANELS, plot_course
from mscsim.report._flagship import first_day_below, flagship_report

__all__ = ["PANELS", "first_day_below", "flagship_report", "plot_course"]
