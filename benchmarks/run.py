"""Run every benchmark and write one markdown report (benchmarks/RESULTS.md).

A benchmark script is ``benchmarks/NAME.py`` that follows the convention:
``python benchmarks/NAME.py [--quick]`` as root, ``--quick`` for tiny sizes
(under 30 s), a markdown table on stdout with medians / maxima and the ratio
to keepalived measured in the same run, exit 0.  The scripts run here are
the ones listed in ``SCRIPTS`` (a listed script that is not there is
reported, not fatal) plus any other ``benchmarks/*.py`` that mentions
``--quick`` (modules starting with ``_`` are helpers, not benchmarks).
Scripts run one after the other (they measure CPU; running them side by
side would measure each other), each bounded by a timeout, all of them by
a total budget (15 minutes): what does not fit is reported as skipped.

``--update-readme`` puts the report into README.md as its "## Performance"
section (the heading is kept; the section is added before "## keepalived
compatibility" when there is none yet).

Run as root: python benchmarks/run.py [--quick] [--only NAME ...] [--update-readme]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "RESULTS.md")
README = os.path.join(ROOT, "README.md")
README_HEADING = "## Performance"
README_BEFORE = "## keepalived compatibility"

# name -> (timeout in seconds, extra arguments); order is run order
SCRIPTS: dict[str, tuple[float, tuple[str, ...]]] = {
    "checkers.py": (420, ()),
    "config_parse.py": (300, ()),
    "cost_by_role.py": (360, ()),   # ~200 s: three rounds of each 0.1 s case
    "advert_timing.py": (300, ()),  # ~125 s: three rounds of 3 x 12 s
    "failover.py": (300, ()),
    "console_responsiveness.py": (180, ()),
    "console_lab.py": (180, ()),
}
DEFAULT_TIMEOUT = 240.0
BUDGET = 15 * 60.0


def discover() -> list[str]:
    """Listed scripts first (present or not), then other scripts following the convention."""
    names = list(SCRIPTS)
    for fn in sorted(os.listdir(HERE)):
        if not fn.endswith(".py") or fn.startswith("_") or fn == "run.py" or fn in names:
            continue
        try:
            with open(os.path.join(HERE, fn), errors="replace") as f:
                if "--quick" in f.read():
                    names.append(fn)
        except OSError:
            pass
    return names


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ka = subprocess.run(["keepalived", "--version"], capture_output=True, text=True, timeout=10)
        ka_version = (ka.stdout + ka.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        ka_version = "keepalived not found"
    return (f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, "
            f"{ka_version}")


def demote(text: str, levels: int) -> str:
    """Push a script's own markdown headings ``levels`` deeper."""
    return "\n".join(("#" * levels + line) if re.match(r"#+ ", line) else line for line in text.splitlines())


def run_one(name: str, quick: bool, timeout: float) -> dict:
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return {"name": name, "status": "missing", "seconds": 0.0, "stdout": ""}
    argv = [sys.executable, path, *(("--quick",) if quick else ()), *SCRIPTS.get(name, (0, ()))[1]]
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {"name": name, "status": f"timed out after {timeout:.0f} s", "seconds": time.monotonic() - t0,
                "stdout": out, "stderr": ""}
    status = "ok" if p.returncode == 0 else f"exit {p.returncode}"
    return {"name": name, "status": status, "seconds": time.monotonic() - t0, "stdout": p.stdout,
            "stderr": p.stderr, "argv": argv}


def report(results: list[dict], command: str, level: int) -> str:
    """The markdown; ``level`` is the depth of the per-script headings."""
    h = "#" * level
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    total = sum(r["seconds"] for r in results)
    out = [f"Measured {now} on {machine()}.", f"Command: `{command}` ({total:.0f} s in all).", ""]
    out += ["| benchmark | result | time |", "|---|---|---|"]
    for r in results:
        out.append(f"| `benchmarks/{r['name']}` | {r['status']} | {r['seconds']:.0f} s |")
    for r in results:
        if r["status"] == "missing" or r["status"].startswith("skipped"):
            continue
        out += ["", f"{h} {r['name']}", ""]
        body = r["stdout"].strip("\n").rstrip()
        if not body:
            out.append("(no output)")
        elif any(line.startswith("|") for line in body.splitlines()):
            out.append(demote(body, level - 1))
        else:                            # plain text (the console benchmarks): keep its layout
            out += ["```text", body, "```"]
        if r["status"] != "ok" and r.get("stderr"):
            out += ["", "```", r["stderr"].strip()[-1500:], "```"]
    return "\n".join(out) + "\n"


def update_readme(body: str, path: str = README) -> None:
    with open(path) as f:
        lines = f.read().split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == README_HEADING), None)
    section = [README_HEADING, "", *body.rstrip("\n").split("\n"), ""]
    if start is None:
        at = next((i for i, line in enumerate(lines) if line.strip() == README_BEFORE), len(lines))
        lines[at:at] = section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = section
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts (e.g. checkers.py)")
    ap.add_argument("--update-readme", action="store_true", help="replace README.md's performance section")
    ap.add_argument("--output", default=RESULTS, help="where the report goes (default benchmarks/RESULTS.md)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("run.py needs root (the benchmarks build network namespaces)", file=sys.stderr)
        return 2
    names = discover()
    if a.only:
        names = [n if n.endswith(".py") else n + ".py" for n in a.only]
    command = "python benchmarks/run.py" + "".join(f" {shlex.quote(x)}" for x in sys.argv[1:])
    started = time.monotonic()
    results = []
    for name in names:
        left = BUDGET - (time.monotonic() - started)
        timeout = min(SCRIPTS.get(name, (DEFAULT_TIMEOUT,))[0], left)
        if timeout < 20:
            results.append({"name": name, "status": "skipped: over the 15-minute budget", "seconds": 0.0,
                            "stdout": ""})
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        r = run_one(name, a.quick, timeout)
        print(f"  {r['status']} in {r['seconds']:.0f} s", file=sys.stderr, flush=True)
        results.append(r)
    with open(a.output, "w") as f:
        f.write("# vipdeck benchmarks\n\n" + report(results, command, 2))
    print(f"wrote {a.output}", file=sys.stderr)
    if a.update_readme:
        update_readme(report(results, command, 3))
        print(f"updated {README} ({README_HEADING})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
