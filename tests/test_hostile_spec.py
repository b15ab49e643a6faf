"""Issue 14, trial specs: each reproducer is the shipped ``leng2020.toml`` with one line changed,
run as ``mscsim trial run F -o O``; each must end in one line naming the field and line, with
exit status 2, before any simulation starts, and leave no output folder."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest

from mscsim import InputError
from mscsim.trial import design_path, load_spec, spec_from_dict
from mscsim.trial._enrol import allocate
from tests._trial_helpers import BASE_SPEC
from tests.test_cli_model import assert_one_line_error
from tests.test_cli_population import run_here

LENG = design_path("leng2020")


def leng(tmp_path: Path, old: str, new: str, name: str = "spec.toml") -> Path:
    """leng2020.toml with the line matching ``old`` (a regex) replaced by ``new``."""
    text = LENG.read_text(encoding="utf-8")
    changed, count = re.subn(old, new, text, count=1, flags=re.MULTILINE)
    assert count == 1, old
    path = tmp_path / name
    path.write_text(changed, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


CASES = [
    # crash 1: NaN passed the window check (every comparison with NaN is false)
    ("window_days = .*$", "window_days = [nan, nan]", "enrolment.window_days", "finite"),
    ("window_days = .*$", "window_days = [nan, 2]", "enrolment.window_days", "finite"),
    # crash 2 and the silent 0-MSC trials: inf and 1e308 ratios
    ("ratio = .*$", "ratio = { msc = inf, placebo = 3 }", "allocation.ratio.msc", "finite"),
    ("ratio = .*\nmethod = .*$", "ratio = { msc = 1e308, placebo = 1e308 }\nmethod = \"simple\"",
     "allocation.ratio.msc", "less than or equal to 1000"),
    # crash 3: numpy tried to allocate 93 GiB
    ("block_size = .*$", "block_size = 100000000000", "allocation.block_size",
     "MSCSIM_MAX_BLOCK_SIZE"),
    # hang: 1e12 infections ran until memory was gone
    ("n_infections = .*$", "n_infections = 1000000000000", "population.n_infections",
     "MSCSIM_MAX_N_INFECTIONS"),
    # smaller: silent coercion
    ("^sample_size = .*$", 'sample_size = "10"', "sample_size", "valid integer"),
    ("^doses = 1$", "doses = true", "arms[0].doses", "valid integer"),
    ("^hypoxaemia = .*$", 'hypoxaemia = "yes"', "eligibility.hypoxaemia", "valid boolean"),
    ("^follow_up_days = .*$", 'follow_up_days = "14"', "follow_up_days", "valid number"),
]


@pytest.mark.parametrize(("old", "new", "field", "message"), CASES)
def test_a_hostile_spec_line_is_refused_with_field_and_line(tmp_path: Path, old: str, new: str,
                                                             field: str, message: str) -> None:
    path = leng(tmp_path, old, new)
    with pytest.raises(InputError) as info:
        load_spec(path)
    err = info.value
    assert err.field is not None and err.field.startswith(field), str(err)
    assert message in str(err)
    needle = new.split("=")[0].strip().split("\n")[0] + " ="
    assert err.line == line_of(path, needle), str(err)


@pytest.mark.parametrize(("old", "new", "field", "message"), CASES[:6])
def test_the_cli_gives_one_line_and_exit_2_and_writes_nothing(capsys, tmp_path: Path, old: str,
                                                              new: str, field: str,
                                                              message: str) -> None:
    path = leng(tmp_path, old, new)
    out = tmp_path / "out"
    proc = run_here(capsys, "trial", "run", str(path), "-o", str(out), "--quiet")
    assert proc.returncode == 2
    assert_one_line_error(proc, str(path), f"field '{field}")
    assert not out.exists()


def test_deeply_nested_toml_is_a_clean_error(tmp_path: Path) -> None:
    """Crash 4: a value nested 5,000 deep was a RecursionError in the TOML parser."""
    path = leng(tmp_path, "^seed = .*$", "seed = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(InputError, match="nested too deep") as info:
        load_spec(path)
    assert str(path) in str(info.value)
    path = leng(tmp_path, "^seed = .*$", "seed = " + "[" * 50 + "]" * 50)
    with pytest.raises(InputError, match="MSCSIM_MAX_TOML_DEPTH"):
        load_spec(path)


def test_an_oversized_spec_is_refused_before_it_is_parsed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MSCSIM_MAX_SPEC_BYTES", "100")
    with pytest.raises(InputError, match="MSCSIM_MAX_SPEC_BYTES"):
        load_spec(LENG)


def test_a_missing_trial_name_is_reported_at_the_trial_table(tmp_path: Path) -> None:
    """Smaller: it was reported at the line of ``arms[0].name``."""
    path = leng(tmp_path, '^name = "leng2020"$', "")
    with pytest.raises(InputError, match="required field is missing") as info:
        load_spec(path)
    assert info.value.field == "trial.name"
    assert info.value.line == line_of(path, "[trial]")


def test_a_missing_top_level_key_names_no_wrong_line(tmp_path: Path) -> None:
    path = leng(tmp_path, "^seed = .*$", "")
    with pytest.raises(InputError, match="required field is missing") as info:
        load_spec(path)
    assert info.value.field == "seed" and info.value.line is None


def test_a_bad_key_is_looked_for_only_in_its_own_table(tmp_path: Path) -> None:
    path = leng(tmp_path, '^name = "placebo"$', 'name = "9placebo"')
    with pytest.raises(InputError) as info:
        load_spec(path)
    assert info.value.field == "arms[1].name"
    assert info.value.line == line_of(path, '"9placebo"')


def test_a_spec_within_the_limits_allocates_as_designed() -> None:
    """The largest allowed ratio still allocates (no overflow to 0 MSC patients)."""
    data = copy.deepcopy(BASE_SPEC)
    data["allocation"] = {"ratio": {"msc": 1000, "placebo": 1000}, "method": "simple"}
    spec = spec_from_dict(data)
    arms = allocate(2000, spec, np.random.default_rng(1))
    assert 900 < arms.sum() < 1100
