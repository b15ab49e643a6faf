#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run the whole suite.
#   R with metafor, survival and MASS: the reference implementations some tests re-run live.
#   Chromium (Debian's chromium): renders the HTML reports in the browser tests.
#   gfortran, cmake and g++: numbalsoda (the compiled back end's LSODA, extra mscsim[fast])
#     ships no wheel and is built from source.
#   mscsim itself with its dev extra (numbalsoda, dask, pytest, hypothesis, lifelines,
#     statsmodels, ruff, mypy).
# The tests of the compiled back end run with MSCSIM_REQUIRE_FAST=1: they fail, instead of
# skipping, if numbalsoda is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

can_apt() {
    command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]
}

have_r_packages() {
    command -v Rscript >/dev/null 2>&1 &&
        Rscript -e 'suppressMessages({library(metafor); library(survival); library(MASS); library(jsonlite)})' \
            >/dev/null 2>&1
}

if ! have_r_packages; then
    if can_apt; then
        echo "== installing R reference packages (apt)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends \
            r-base-core r-cran-metafor r-cran-survival r-cran-mass r-cran-jsonlite >/dev/null
    else
        echo "== R packages unavailable and cannot be installed: live-R tests will skip" >&2
    fi
fi

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if can_apt; then
        echo "== installing headless Chromium for the browser tests of the reports (apt)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "== chromium unavailable and cannot be installed: browser tests will skip" >&2
    fi
fi

have_numbalsoda() {
    python3 -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("numbalsoda") is None)'
}

if ! have_numbalsoda && ! { command -v gfortran && command -v cmake && command -v g++; } >/dev/null; then
    if can_apt; then
        echo "== installing the compilers numbalsoda's build needs (apt: gfortran cmake g++)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends gfortran cmake g++ >/dev/null
    else
        echo "== numbalsoda needs gfortran, cmake and g++ to build; install them" \
             "(apt-get install gfortran cmake g++) and run again" >&2
        exit 1
    fi
fi

echo "== installing mscsim with its dev extra"
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'

echo "== lint and types"
python3 -m ruff check src tests benchmarks
python3 -m mypy

echo "== tests"
MSCSIM_REQUIRE_FAST=1 python3 -m pytest -q "$@"
