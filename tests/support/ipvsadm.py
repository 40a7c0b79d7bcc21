"""The real ipvsadm, the reference our table text is compared with."""

from __future__ import annotations


def ipvsadm(node, *args: str) -> str:
    """Run the real ipvsadm in a node's namespace; its stdout, exactly."""
    r = node.run("ipvsadm", *args, check=False)
    if r.returncode != 0:
        raise AssertionError(f"ipvsadm {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout
