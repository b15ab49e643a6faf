#!/usr/bin/env bash
# Every dependency of the base install (and of the build) must come as a wheel, so that
# `pip install .` works on a fresh machine without compilers. In a new virtual environment,
# `pip download --only-binary=:all:` of those requirements (read from pyproject.toml) into a
# scratch folder: a dependency that would need building fails here whatever compilers this
# machine has. pip's configuration is ignored and only the index is asked, so a wheel built
# on this machine (a local wheelhouse in pip.conf) does not count. Optional extras (fast,
# dask, dev) are not checked: they may need building.
#   PYTHON=python3.12 bash scripts/check_wheels.sh    checks another interpreter
#   WHEEL_INDEX=https://mirror/simple bash ...         asks another index (default PyPI)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
index=${WHEEL_INDEX:-https://pypi.org/simple}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mscsim-wheels.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

"$python" - pyproject.toml > "$scratch/requirements.txt" <<'EOF'
import sys
import tomllib

with open(sys.argv[1], "rb") as handle:
    pyproject = tomllib.load(handle)
for requirement in pyproject["build-system"]["requires"] + pyproject["project"]["dependencies"]:
    print(requirement)
EOF

"$python" -m venv "$scratch/venv"
version=$("$scratch/venv/bin/python" -c 'import platform; print(platform.python_version())')
echo "== wheels only: $(wc -l < "$scratch/requirements.txt") base and build requirements," \
     "Python $version, $index"
if ! PIP_CONFIG_FILE=/dev/null "$scratch/venv/bin/python" -m pip download --isolated --quiet \
        --disable-pip-version-check --index-url "$index" --only-binary=:all: \
        --dest "$scratch/wheels" -r "$scratch/requirements.txt"; then
    echo "check_wheels: a base dependency (or one of its own) has no wheel for Python $version;" \
         "move it to an optional extra or pin a version that ships wheels" >&2
    exit 1
fi
echo "== every base dependency has a wheel ($(ls "$scratch/wheels" | wc -l) wheels)"
