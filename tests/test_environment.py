"""pyproject.toml and environment.yml declare the same dependencies."""
import re
import tomllib

import yaml

from conftest import ROOT

CONDA_NAMES = {"pytorch": "torch"}
#: conda packages that are system libraries (no PyPI counterpart; pip users get them from apt)
SYSTEM_LIBS = {"gperftools"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower()


def test_pyproject_and_environment_agree():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in py["dependencies"]} | {_name(r) for r in py["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            conda |= {_name(r) for r in dep["pip"]}
        else:
            n = _name(dep)
            if n not in ("python", "pip", *SYSTEM_LIBS):
                conda.add(CONDA_NAMES.get(n, n))
    assert declared == conda, f"only in pyproject: {declared - conda}; only in environment.yml: {conda - declared}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/main.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
