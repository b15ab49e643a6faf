"""What made a result: mscsim's version and the versions of the packages results depend on.

The one place that answers "which versions?" for every manifest and summary (population
folders, power pools, trial summaries, bridge folders, the flagship). The version of mscsim
itself is read from the installed package's metadata, so ``pyproject.toml`` is its only
source.
"""

from __future__ import annotations

from importlib import metadata

#: packages whose versions can change a result (numerics, I/O, integrators, sampling)
RESULT_PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "libroadrunner", "SALib")


def _own_version() -> str:
    try:
        return metadata.version("mscsim")
    except metadata.PackageNotFoundError:  # imported from a source tree that is not installed
        return "0+unknown"


MSCSIM_VERSION = _own_version()


def package_versions(packages: tuple[str, ...] = RESULT_PACKAGES) -> dict[str, str]:
    """``{"mscsim": ..., package: version}`` for each of ``packages`` that is installed."""
    versions = {"mscsim": MSCSIM_VERSION}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
