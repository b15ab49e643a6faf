"""A population on disk: ``patients.parquet`` and ``manifest.json`` in one folder.

The folder is written beside its target under a temporary name and renamed into place, so an
interrupted write leaves nothing that looks like a population.
"""

from __future__ import annotations

import json
from pathlib import Path

from mscsim._errors import InputError
from mscsim._io import atomic_folder, read_parquet
from mscsim.population._generate import Population

PATIENTS_FILE, MANIFEST_FILE = "patients.parquet", "manifest.json"
REQUIRED_COLUMNS = ("patient", "status", "age", "male", "body_weight_kg", "hospitalised",
                    "died", "death_threshold")


def write_population(population: Population, folder: str | Path, *,
                     overwrite: bool = False) -> Path:
    """Write ``population`` to ``folder``.

    Raises:
        InputError: ``folder`` exists and is not empty (unless ``overwrite``).
    """
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        population.patients.to_parquet(tmp / PATIENTS_FILE, index=False)
        (tmp / MANIFEST_FILE).write_text(json.dumps(population.manifest, indent=2),
                                         encoding="utf-8")
    return Path(folder)


def read_population(folder: str | Path) -> Population:
    """Read a population folder written by :func:`write_population`.

    Raises:
        InputError: the folder, a file or a required column is missing or malformed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("population folder not found", file=folder)
    manifest_path, patients_path = folder / MANIFEST_FILE, folder / PATIENTS_FILE
    for path in (manifest_path, patients_path):
        if not path.is_file():
            raise InputError(f"not a population folder: {path.name} is missing", file=folder)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise InputError(f"manifest is not valid JSON: {err}", file=manifest_path) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "mscsim.population":
        raise InputError("manifest is not an mscsim population manifest", file=manifest_path,
                         field="kind")
    try:
        patients = read_parquet(patients_path)
    except Exception as err:  # pyarrow raises several types for damaged files
        raise InputError(f"cannot read patients table: {' '.join(str(err).split())}",
                         file=patients_path) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in patients.columns]
    if missing:
        raise InputError(f"patients table lacks columns: {', '.join(missing)}",
                         file=patients_path)
    if len(patients) != manifest.get("n"):
        raise InputError(f"patients table has {len(patients)} rows but the manifest says "
                         f"n={manifest.get('n')}", file=patients_path)
    return Population(patients=patients, manifest=manifest)
