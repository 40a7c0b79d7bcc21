"""Package layout: the repository's engine/ and console/ install as vipdeck.engine and vipdeck.console.

Everything else is in pyproject.toml; only the package list needs code, so
that a new sub-package of engine/ or console/ can never be left out of the
wheel (``tests/unit/test_packaging.py`` builds one and checks).
"""

from setuptools import find_packages, setup

MAPPED = {"vipdeck.engine": "engine", "vipdeck.console": "console"}


def _packages() -> list[str]:
    pkgs = ["vipdeck", *(f"vipdeck.{p}" for p in find_packages("vipdeck"))]
    for name, where in MAPPED.items():
        pkgs += [name, *(f"{name}.{p}" for p in find_packages(where))]
    return pkgs


setup(packages=_packages(), package_dir={"vipdeck": "vipdeck", **MAPPED})
