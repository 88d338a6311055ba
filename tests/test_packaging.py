"""pyproject.toml and environment.yml declare the same dependencies."""

import re
import tomllib

from conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_deps = {_name(d): d.replace(" ", "") for d in project["dependencies"]}
    conda: dict[str, str] = {}
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        match = re.match(r"^  - ([A-Za-z0-9_.\-]+.*)$", line)
        if in_deps and match:
            entry = match.group(1).strip()
            if _name(entry) not in {"python", "pip", "pip:"}:
                conda[_name(entry)] = entry.replace(" ", "")
    assert conda == pip_deps


def test_python_floor_is_the_same():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert "python>=3.11" in (ROOT / "environment.yml").read_text()


def test_dev_extra_brings_installs_the_tests_need():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    dev = {_name(d) for d in extras["dev"]}
    assert {"hypothesis", "ruff", "nbclient"} <= dev
    assert extras["torch"] == ["torch==2.13.0"]
