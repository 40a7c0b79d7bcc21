"""Load, memory and disk of the machine the console runs on.

Used when the snapshot carries no ``node.system``: the control socket is a
Unix socket, so the daemon is on this machine and psutil sees the same
figures.  Any failure gives an empty dict (the overview then says so).
"""

from __future__ import annotations


def local_system(disk_path: str = "/") -> dict:
    try:
        import os

        import psutil

        vm = psutil.virtual_memory()
        du = psutil.disk_usage(disk_path)
        return {
            "load": list(os.getloadavg()),
            "cpus": psutil.cpu_count() or 1,
            "mem_total": vm.total,
            "mem_used": vm.total - vm.available,
            "disk_path": disk_path,
            "disk_total": du.total,
            "disk_used": du.used,
        }
    except Exception:  # the overview must never fail for want of psutil
        return {}
