"""Keep Debian's linux.uml booting on hosts whose XSAVE area it cannot size.

linux.uml 6.1 saves and restores its processes' FPU registers with
``PTRACE_{GET,SET}REGSET NT_X86_XSTATE`` and a buffer of fixed size.  The
host kernel accepts SETREGSET only with a buffer of exactly its own XSAVE
size, which on CPUs with AMX (tile data is 8 KiB) is larger than UML's: the
first context switch fails ("userspace - ptrace set fp regs failed, errno =
14") and the guest's init dies of SIGSEGV.  (Making UML fall back to the
512-byte FXSAVE area instead was tried: guests then lose vector state and
Python hangs or fails at start.)

``uml_xstate.c`` is an LD_PRELOAD shim that gives the kernel a buffer of
its own size and copies UML's part in or out, keeping the rest of each
process's state as it was.  It is built with the C compiler at run time
(a few hundred milliseconds) into the run's directory, and only used where
it is needed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_suffix(".c")


def needed(cpuinfo: str | None = None) -> bool:
    """True on hosts whose XSAVE area outgrows linux.uml's (AMX tile state)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "amx_tile" in line.split()
    return False


def build(workdir: Path) -> Path:
    """Compile the shim into ``workdir``; a clear error if no compiler is there."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("this CPU's XSAVE area is too large for linux.uml: a C compiler (cc) is needed "
                           "to build the ptrace shim in engine/lab/uml_xstate.c")
    out = Path(workdir) / "uml_xstate.so"
    proc = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(SOURCE), "-ldl"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building {SOURCE.name} failed:\n{proc.stderr}")
    return out


def environment(workdir: Path) -> dict[str, str]:
    """Extra environment for the linux.uml process (empty where nothing is needed)."""
    if not needed():
        return {}
    return {"LD_PRELOAD": str(build(workdir))}
