"""The tooling says what it does: pre-commit runs the checks `make lint` runs, offline."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

from pre_commit.clientlib import load_config

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = [
    "meshkeys/crypto",
    "meshkeys/services",
    "meshkeys/models.py",
    "meshkeys/db.py",
    "meshkeys/config.py",
    "meshkeys/forwarding.py",
]


def _make_recipe(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text()
    block = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert block, f"no {target} target in the Makefile"
    return [line.strip() for line in block.group(1).splitlines()]


def test_pre_commit_hooks_are_local_and_run_the_lint_steps():
    config = load_config(str(ROOT / ".pre-commit-config.yaml"))  # validates the schema too
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {repo["repo"] for repo in config["repos"]} == {"local"}  # nothing to download
    assert {hook["language"] for hook in hooks} <= {"system", "unsupported"}
    entries = [hook["entry"].split() for hook in hooks]
    assert all(entry[0] == ".ci/rings" and len(entry) == 2 for entry in entries), entries
    assert not any(hook["pass_filenames"] for hook in hooks)  # whole tree, as make test
    assert _make_recipe("lint") == [".ci/rings " + " ".join(entry[1] for entry in entries)]


def test_make_test_runs_every_check_and_the_gate_after_the_rings_it_measures():
    (recipe,) = _make_recipe("test")
    steps = recipe.split()[1:]
    assert set(_make_recipe("lint")[0].split()[1:]) <= set(steps)
    assert steps.index("coverage") > max(steps.index("unit"), steps.index("integration"))


def test_mypy_checks_the_whole_domain_strictly():
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["strict"] is True and mypy["files"] == DOMAIN


def test_rings_refuse_an_unknown_step():
    done = subprocess.run(
        [str(ROOT / ".ci" / "rings"), "fromat"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "unknown step 'fromat'" in done.stderr


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, sep, version = requirement.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return pins


def test_constraints_pin_every_installed_package_as_pyproject_does():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    locked = _pins((ROOT / "constraints.txt").read_text().splitlines())
    assert {name: locked.get(name) for name in direct} == direct
    installed = {name: metadata.version(name) for name in locked}
    assert installed == locked, "the venv is not the locked set: make install-dev"
