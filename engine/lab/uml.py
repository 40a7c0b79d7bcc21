"""Run a command inside a user-mode Linux guest that has kernel IPVS.

This machine's kernel has no ip_vs, but Debian's ``linux.uml`` does, and it
boots in a few seconds with the host's own root file system (hostfs), so the
same Python, packages and checkout run inside.  One boot is expensive compared
with a test, so the intended use is one boot per test run: the guest runs a
whole pytest session and the host reads its junit report.

Isolation: each run gets its own temporary directory holding the init script,
the command, its output, UML's pid/umid files (``uml_dir=``) and the guest's
module tree.  Inside the guest, tmpfs covers ``/run`` and ``/tmp`` (so netns
files and temporary files stay in guest memory), the run directory is
bind-mounted at ``/run/vipdeck-uml`` (``/tmp`` is hidden by then), and
``PYTHONDONTWRITEBYTECODE`` keeps Python from writing ``__pycache__`` into the
host's tree.  On timeout the UML process group is killed.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from vipdeck.engine.lab import uml_xstate

UML_BIN = "/usr/bin/linux.uml"
UML_MODULES = Path("/usr/lib/uml/modules")
GUEST_DIR = "/run/vipdeck-uml"     # where the run directory appears inside the guest
DEFAULT_MODULES = (
    "veth", "bridge", "ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_sh",
    "ip_vs_mh", "ip_vs_pe_sip",
)
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# PID 1 of the guest.  The run directory arrives as a kernel command-line
# word (unknown NAME=value words become init's environment).
_INIT = r"""#!/bin/sh
# vipdeck user-mode Linux init: prepare the guest, run one command, power off.
export PATH={path}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p {guest_dir}
mount --bind "$VIPDECK_UML_DIR" {guest_dir}
D={guest_dir}
# host directories under /tmp the command needs (a checkout there): keep them
# visible through the tmpfs that hides the rest of the host's /tmp
K=/run/vipdeck-keep
n=0
while IFS= read -r p; do n=$((n+1)); mkdir -p $K/$n; mount --bind "$p" $K/$n; done < $D/keep
mount -t tmpfs -o mode=1777 tmpfs /tmp
n=0
while IFS= read -r p; do n=$((n+1)); mkdir -p "$p"; mount --bind $K/$n "$p"; done < $D/keep
date +%s.%N > $D/t_init
M=/run/vipdeck-modules
mkdir -p $M/lib && ln -s {modules} $M/lib/modules
modprobe -a -d $M $(cat $D/modules) 2>>$D/modules.err
for m in $(cat $D/modules); do
    [ -d /sys/module/$m ] || echo "$m" >> $D/modules.failed
done
ip link set lo up
date +%s.%N > $D/t_start
/bin/sh $D/command.sh > $D/stdout 2> $D/stderr < /dev/null
echo $? > $D/exitcode
date +%s.%N > $D/t_end
sync
poweroff -f
"""


class UmlUnavailable(RuntimeError):
    """linux.uml or its modules are not installed."""


def uml_missing() -> str | None:
    """Why a guest cannot be booted here, or None when it can."""
    if not os.access(UML_BIN, os.X_OK):
        return f"{UML_BIN} is not installed (apt-get install user-mode-linux)"
    if not UML_MODULES.is_dir() or not any(UML_MODULES.iterdir()):
        return f"{UML_MODULES} has no module tree"
    if shutil.which("modprobe") is None:
        return "modprobe (kmod) is not installed"
    return None


@dataclass
class UmlResult:
    exit_code: int | None          # the command's exit status; None if it never finished
    stdout: str
    stderr: str
    console: str                   # kernel and init output (noisy)
    timed_out: bool
    kernel_seconds: float | None   # host start -> init running (kernel boot)
    boot_seconds: float | None     # host start -> command start (kernel + mounts + modules)
    command_seconds: float | None  # command start -> command end (guest clock)
    total_seconds: float           # host wall time of the whole run
    failed_modules: list[str]
    workdir: Path | None           # kept only when asked (keep=True)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _float(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def run_in_uml(argv: Sequence[str], *, cwd: str | os.PathLike | None = None,
               env: Mapping[str, str] | None = None, timeout: float = 240.0,
               mem: str = "1G", modules: Sequence[str] = DEFAULT_MODULES,
               files: Mapping[str, str] | None = None, keep: bool = False) -> UmlResult:
    """Boot a guest, run ``argv`` in it as root, return its output.

    ``env`` is added to a small clean environment (PATH, HOME=/tmp,
    PYTHONDONTWRITEBYTECODE=1, VIPDECK_UML_OUT=<run dir inside the guest>).
    ``files`` are written into the run directory first (name -> text); the
    command finds them under ``$VIPDECK_UML_OUT`` and may write its own
    results there, which the caller reads through ``workdir`` (keep=True) or
    :func:`run_pytest_in_uml`.
    """
    missing = uml_missing()
    if missing:
        raise UmlUnavailable(missing)
    workdir = Path(tempfile.mkdtemp(prefix="vipdeck-uml-"))
    try:
        result = _run(workdir, argv, cwd, env, timeout, mem, modules, files, keep)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _kept_under_tmp(paths: Sequence[Path]) -> list[str]:
    """The top directories under /tmp that hold ``paths`` (the guest hides the
    host's /tmp behind a tmpfs; these are bound back, e.g. a CI checkout in
    /tmp/ci/main and its shared/ beside it)."""
    out: list[str] = []
    for p in paths:
        parts = Path(os.path.abspath(p)).parts
        if len(parts) >= 3 and parts[1] == "tmp":
            top = os.path.join("/tmp", parts[2])
            if top not in out and os.path.isdir(top):
                out.append(top)
    return out


def _run(workdir: Path, argv, cwd, env, timeout, mem, modules, files, keep) -> UmlResult:
    for name, text in (files or {}).items():
        (workdir / name).write_text(text)
    init = workdir / "init.sh"
    init.write_text(_INIT.format(path=GUEST_PATH, guest_dir=GUEST_DIR, modules=UML_MODULES))
    init.chmod(0o755)
    full_env = {
        # the host's interpreter first, so "python3" in the guest is this one
        "PATH": f"{Path(sys.executable).parent}:{GUEST_PATH}",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "VIPDECK_UML_OUT": GUEST_DIR,
        "VIPDECK_IN_UML": "1",
    }
    full_env.update(env or {})
    lines = ["set -e"]
    lines += [f"export {k}={shlex.quote(str(v))}" for k, v in full_env.items()]
    lines.append(f"cd {shlex.quote(str(cwd or os.getcwd()))}")
    lines.append("exec " + " ".join(shlex.quote(str(a)) for a in argv))
    (workdir / "command.sh").write_text("\n".join(lines) + "\n")
    umid = "vipdeck-" + secrets.token_hex(4)
    kernel_args = [
        UML_BIN, f"mem={mem}", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
        f"init={init}", f"umid={umid}", f"uml_dir={workdir}",
        "con=null", "ssl=null", "con0=fd:0,fd:1",
        f"VIPDECK_UML_DIR={workdir}",
    ]
    # a command-line value cannot hold spaces: the module list goes in a file
    (workdir / "modules").write_text(" ".join(modules))
    (workdir / "keep").write_text("".join(f"{p}\n" for p in _kept_under_tmp(
        [Path(cwd or os.getcwd()), Path(sys.executable).resolve().parent])))
    console = open(workdir / "console.log", "wb")
    t0 = time.time()
    timed_out = False
    with console:
        # on AMX hosts linux.uml needs help to move FPU state (see uml_xstate)
        host_env = dict(os.environ, **uml_xstate.environment(workdir))
        proc = subprocess.Popen(kernel_args, stdin=subprocess.DEVNULL, stdout=console,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir,
                                env=host_env)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_session(proc)
    total = time.time() - t0
    code_text = _read(workdir / "exitcode").strip()
    t_init, t_start, t_end = (_float(workdir / n) for n in ("t_init", "t_start", "t_end"))
    return UmlResult(
        exit_code=int(code_text) if code_text.lstrip("-").isdigit() else None,
        stdout=_read(workdir / "stdout"),
        stderr=_read(workdir / "stderr"),
        console=_read(workdir / "console.log"),
        timed_out=timed_out,
        kernel_seconds=(t_init - t0) if t_init else None,
        boot_seconds=(t_start - t0) if t_start else None,
        command_seconds=(t_end - t_start) if t_start and t_end else None,
        total_seconds=total,
        failed_modules=_read(workdir / "modules.failed").split(),
        workdir=workdir if keep else None,
    )


def _session_members(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:          # field 6 of stat: session id
            pids.append(int(entry))
    return pids


def _kill_session(proc: subprocess.Popen) -> None:
    """Kill UML and its helper processes (they share its session), then wait them out."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    # helpers were reparented to init, which reaps them shortly
    deadline = time.monotonic() + 5
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


# ---------------------------------------------------------------- pytest in a guest

@dataclass
class GuestCase:
    """One test case from the guest's junit report."""

    nodeid: str          # e.g. "tests/uml/guest/guest_ipvs.py::test_nat[rr]"
    outcome: str         # passed / failed / error / skipped
    seconds: float
    message: str = ""


@dataclass
class GuestRun:
    result: UmlResult
    cases: dict[str, GuestCase] = field(default_factory=dict)
    report_missing: bool = False

    def summary(self) -> str:
        """Everything useful for a failure message, without the boot noise."""
        r = self.result
        parts = [f"exit={r.exit_code} timed_out={r.timed_out} kernel={r.kernel_seconds} boot={r.boot_seconds} "
                 f"total={r.total_seconds:.1f}s failed_modules={r.failed_modules}"]
        if r.stdout:
            parts.append("--- guest stdout ---\n" + r.stdout[-6000:])
        if r.stderr:
            parts.append("--- guest stderr ---\n" + r.stderr[-3000:])
        if r.exit_code is None:
            parts.append("--- console tail ---\n" + r.console[-3000:])
        return "\n".join(parts)


GUEST_PYTEST_ARGS = (
    "-o", "python_files=guest_*.py",
    "-p", "no:cacheprovider",
    "-p", "no:hypothesispytest",
    "-p", "no:textual-snapshot",
    "-p", "no:benchmark",
    "-q", "-rfE",
)


def run_pytest_in_uml(paths: Sequence[str], *, root: str | os.PathLike, extra: Sequence[str] = (),
                      env: Mapping[str, str] | None = None, timeout: float = 300.0, mem: str = "1G",
                      modules: Sequence[str] = DEFAULT_MODULES) -> GuestRun:
    """Boot once and run pytest on ``paths`` (guest_*.py files) inside."""
    argv = [sys.executable, "-m", "pytest", *GUEST_PYTEST_ARGS,
            f"--junitxml={GUEST_DIR}/junit.xml", *extra, *paths]
    result = run_in_uml(argv, cwd=root, env=env, timeout=timeout, mem=mem, modules=modules, keep=True)
    workdir, result.workdir = result.workdir, None
    try:
        run = GuestRun(result)
        report = workdir / "junit.xml"
        if report.exists():
            run.cases = parse_junit(report.read_text())
        else:
            run.report_missing = True
        return run
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_junit(text: str) -> dict[str, GuestCase]:
    """junit XML -> cases keyed by a pytest-like node id."""
    cases: dict[str, GuestCase] = {}
    root = ET.fromstring(text)
    for tc in root.iter("testcase"):
        classname = tc.get("classname", "")
        name = tc.get("name", "")
        # classname is "tests.uml.guest.guest_x" or "...guest_x.TestClass"
        parts = classname.split(".")
        mod_end = next((i for i, p in enumerate(parts) if p.startswith("guest_")), len(parts) - 1)
        path = "/".join(parts[: mod_end + 1]) + ".py"
        nodeid = "::".join([path, *parts[mod_end + 1:], name])
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (el.get("message") or "") + "\n" + (el.text or "")
                break
        cases[nodeid] = GuestCase(nodeid, outcome, float(tc.get("time", "0") or 0), message.strip())
    return cases
