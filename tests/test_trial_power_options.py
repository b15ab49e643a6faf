"""``PowerOptions``: bad options fail on construction, naming the field, before any spec is
read or patient simulated; the command line builds the same object first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mscsim import InputError
from mscsim.cli import main
from mscsim.trial import PowerOptions


@pytest.mark.parametrize(("options", "field"), [
    ({"replicates": 0}, "replicates"),
    ({"replicates": True}, "replicates"),
    ({"replicates": 2.5}, "replicates"),
    ({"replicates": 10, "target_power": 1.0}, "target_power"),
    ({"replicates": 10, "target_power": "0.8"}, "target_power"),
    ({"replicates": 10, "method": "bootstrap"}, "method"),
    ({"replicates": 10, "sample_sizes": [1, 20]}, "sample_sizes"),
    ({"replicates": 10, "sample_sizes": [20.0]}, "sample_sizes"),
    ({"replicates": 10, "max_n": 1}, "max_n"),
    ({"replicates": 10, "target_power": 0.8, "method": "resimulate"}, "method"),
    ({"replicates": 10, "sample_sizes": [20], "method": "resimulate"}, "method"),
])
def test_bad_options_fail_on_construction_naming_the_field(options, field: str) -> None:
    with pytest.raises(InputError) as err:
        PowerOptions(**options)
    assert err.value.field == field


def test_sample_sizes_are_kept_sorted_without_repeats() -> None:
    options = PowerOptions(replicates=5, sample_sizes=[160, 40, np.int64(80), 40],
                           target_power=0.8, max_n=400)
    assert options.sample_sizes == (40, 80, 160)
    assert PowerOptions(replicates=5).sample_sizes == ()


@pytest.mark.parametrize(("args", "field"), [
    (["--replicates", "0"], "replicates"),
    (["--target-power", "1.5"], "target_power"),
    (["--method", "bootstrap"], "method"),
    (["--method", "resimulate", "--sample-sizes", "20,40"], "method"),
])
def test_the_command_refuses_bad_options_before_reading_the_spec(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], field: str) -> None:
    missing = tmp_path / "no-such-spec.toml"  # reading it would be another error
    with pytest.raises(SystemExit) as exit_:
        main(["trial", "power", str(missing), "-o", str(tmp_path / "out"), "--quiet", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"field '{field}'" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_the_flagship_job_refuses_bad_replicates_before_any_simulation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["flagship", "-o", str(tmp_path / "fl"), "--replicates", "0"])
    assert exit_.value.code == 2
    assert "field 'replicates'" in capsys.readouterr().err
    assert not (tmp_path / "fl").exists()
