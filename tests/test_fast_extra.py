"""The compiled back end is the optional extra ``mscsim[fast]``: without numbalsoda, asking
for it is a one-line error naming the extra and the system packages its build needs, and
nothing else breaks. numbalsoda is hidden by putting None in ``sys.modules`` (an import, and
``importlib.util.find_spec``, then find nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mscsim import InputError
from mscsim.model import Model
from mscsim.population import GenerationOptions
from mscsim.simulate import get_backend, simulate, simulate_batch

from .conftest import REFERENCE, REQUIRE_FAST_ENV

ROOT = Path(__file__).resolve().parents[1]
HIDE = "import sys; sys.modules['numbalsoda'] = None\n"


@pytest.fixture
def without_numbalsoda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numbalsoda", None)


def assert_names_the_fix(message: str) -> None:
    assert "\n" not in message
    assert "mscsim[fast]" in message and "gfortran cmake" in message, message
    assert "field 'backend'" in message


@pytest.mark.usefixtures("without_numbalsoda")
def test_asking_for_the_compiled_back_end_names_the_extra(model: Model) -> None:
    with pytest.raises(InputError) as err:
        get_backend("compiled")
    assert_names_the_fix(str(err.value))
    with pytest.raises(InputError, match=r"mscsim\[fast\]"):
        simulate(model, patient=REFERENCE, days=5, backend="compiled")
    with pytest.raises(InputError, match=r"mscsim\[fast\]"):
        simulate_batch(model, [{}], days=5, backend="compiled")
    with pytest.raises(InputError, match=r"mscsim\[fast\]"):  # before any patient is drawn
        GenerationOptions(backend="compiled")


@pytest.mark.usefixtures("without_numbalsoda")
def test_the_other_back_ends_run_without_it(model: Model) -> None:
    tables = [simulate(model, patient=REFERENCE, days=10, backend=name).table
              for name in ("roadrunner", "scipy")]
    assert all(np.isfinite(t.il6_pg_ml).all() for t in tables)
    assert GenerationOptions().backend == "roadrunner"


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = HIDE + "from mscsim.cli import main\nmain(sys.argv[1:])\n"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)


def test_command_line_error_is_one_line_and_other_commands_work(tmp_path: Path) -> None:
    refused = _cli(tmp_path, "simulate", "--backend", "compiled", "-o", "c.csv")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("mscsim: error: ")
    assert_names_the_fix(refused.stderr.strip())
    assert not (tmp_path / "c.csv").exists()
    works = _cli(tmp_path, "simulate", "--days", "5", "-o", "r.csv")
    assert works.returncode == 0, works.stderr
    assert (tmp_path / "r.csv").is_file()


CONFTEST = textwrap.dedent("""
    import sys
    sys.modules["numbalsoda"] = None
    from tests.conftest import pytest_runtest_setup  # noqa: F401  (the hook under test)
""")
NEEDS_FAST = textwrap.dedent("""
    import pytest

    @pytest.mark.fast_extra
    def test_needs_the_extra():
        pass
""")


@pytest.mark.parametrize(("require", "outcome"), [("", "1 skipped"), ("1", "1 error")])
def test_marked_tests_skip_or_fail_without_the_extra(tmp_path: Path, require: str,
                                                     outcome: str) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_marked.py").write_text(NEEDS_FAST)
    env = {**os.environ, REQUIRE_FAST_ENV: require,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert outcome in run.stdout, run.stdout + run.stderr
    if require:
        assert "numbalsoda is not installed" in run.stdout
