"""vipdeck: a keepalived-class VRRP + IPVS engine with a Textual operator console.

The distribution installs one top-level package, ``vipdeck``: the engine
(``vipdeck.engine``, from the repository's ``engine/``), the console
(``vipdeck.console``, from ``console/``) and the command line that composes
both (``vipdeck.cli``).  Nothing else is put at the top of ``sys.path``, so
an environment that also holds a distribution called ``console`` or
``engine`` keeps working.
"""

from pathlib import Path as _Path

# Run from a source checkout (tests, lab nodes, an unprivileged client that
# cannot read root's site-packages, a second worktree): engine/ and console/
# sit beside this directory, so the checkout's root joins the package path
# and ``vipdeck.engine`` is the checkout's own engine/.  An installed wheel
# has vipdeck/engine/ inside the package and never takes this branch.
_root = _Path(__file__).resolve().parent.parent
if (_root / "setup.py").is_file() and (_root / "engine" / "runtime.py").is_file():
    __path__.append(str(_root))  # noqa: F821 (the package's own __path__)


def __getattr__(name: str):
    """``__version__``, looked up when asked for, from the same reading of the
    installed metadata as the engine's snapshots (``vipdeck.engine.version``:
    by hand, without importlib.metadata, whose email package costs a daemon
    about 1.5 MB of resident memory, issue 13).  A source tree that was never
    installed is "0+unknown" here (a PEP 440 local version, what
    ``vipdeck --version`` has always printed) and "0" in a snapshot."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from vipdeck.engine.version import UNKNOWN, package_version

    version = package_version()
    if version == UNKNOWN:
        version = "0+unknown"
    globals()["__version__"] = version
    return version
