"""The linux.uml XSAVE shim: when it is used, and that it builds and loads.

The whole path (a guest booting and running Python on an AMX host) is
covered by tests/uml/test_uml_ipvs.py, which boots user-mode Linux once.
"""

from __future__ import annotations

import ctypes
import shutil

import pytest

from vipdeck.engine.lab import uml_xstate

AMX = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 avx512f amx_bf16 amx_tile amx_int8\n"
NO_AMX = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw\n"


def test_only_hosts_with_amx_state_need_it():
    assert uml_xstate.needed(AMX) is True
    assert uml_xstate.needed(NO_AMX) is False
    assert uml_xstate.needed("") is False


def test_the_shim_builds_and_exports_ptrace(tmp_path):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.fail("a C compiler is part of the test machine (the UML lab needs it on AMX hosts)")
    so = uml_xstate.build(tmp_path)
    lib = ctypes.CDLL(str(so))
    assert hasattr(lib, "ptrace")
    # a request the shim passes through: PTRACE_PEEKUSER on a pid we do not trace fails cleanly
    lib.ptrace.restype = ctypes.c_long
    assert lib.ptrace(3, ctypes.c_int(1), ctypes.c_void_p(0), ctypes.c_void_p(0)) == -1


def test_a_checkout_under_tmp_stays_visible_in_the_guest():
    """The guest hides the host's /tmp behind a tmpfs; a CI checkout there
    (and shared/ beside it) is bound back."""
    from pathlib import Path

    from vipdeck.engine.lab.uml import _kept_under_tmp

    assert _kept_under_tmp([Path("/work/main"), Path("/usr/bin")]) == []
    assert _kept_under_tmp([Path("/tmp"), Path("/tmp/../usr")]) == []
    here = Path("/tmp") / "vipdeck-keep-test" / "main"
    here.mkdir(parents=True, exist_ok=True)
    try:
        assert _kept_under_tmp([here, here / "sub"]) == ["/tmp/vipdeck-keep-test"]
    finally:
        here.rmdir()
        here.parent.rmdir()
