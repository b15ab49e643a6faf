#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run the whole suite.
#   R with metafor, survival and MASS: the reference implementations some tests re-run live.
#   mscsim itself with its dev extra (pytest, hypothesis, lifelines, statsmodels, ruff, mypy).
set -euo pipefail
cd "$(dirname "$0")/.."

have_r_packages() {
    command -v Rscript >/dev/null 2>&1 &&
        Rscript -e 'suppressMessages({library(metafor); library(survival); library(MASS); library(jsonlite)})' \
            >/dev/null 2>&1
}

if ! have_r_packages; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        echo "== installing R reference packages (apt)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends \
            r-base-core r-cran-metafor r-cran-survival r-cran-mass r-cran-jsonlite >/dev/null
    else
        echo "== R packages unavailable and cannot be installed: live-R tests will skip" >&2
    fi
fi

echo "== installing mscsim with its dev extra"
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'

echo "== lint and types"
python3 -m ruff check src tests benchmarks
python3 -m mypy

echo "== tests"
python3 -m pytest -q "$@"
