"""Small real filesystems for fault tests: a tiny tmpfs that fills up, and
read-only remounts of it.

The mount is made in the test's own mount namespace on a fresh temporary
directory, before the daemon starts: the daemon runs under ``ip netns exec``,
which copies the mount table when it starts, so it sees the tmpfs; filling it
or remounting it read-only acts on the one superblock both namespaces share.
A finaliser (``lab.on_close``, run after the daemon has been killed)
unmounts it and removes the directory, even when the test fails.  The
tmpfs's source name carries the lab's per-run prefix, so a leftover is easy
to attribute (``findmnt -t tmpfs``).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile


class TinyFs:
    def __init__(self, lab, size: str = "64k"):
        self.path = tempfile.mkdtemp(prefix=f"{lab.prefix}-fs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", f"{lab.prefix}-tinyfs", self.path],
                       check=True, capture_output=True)
        lab.on_close(self.remove)

    def fill(self) -> str:
        """Write a file until the filesystem says ENOSPC; return its path."""
        path = os.path.join(self.path, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = b"\0" * 4096
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        break
                    chunk = chunk[:len(chunk) // 2]
        finally:
            os.close(fd)
        return path

    def unfill(self) -> None:
        os.unlink(os.path.join(self.path, "filler"))

    def read_only(self, ro: bool = True) -> None:
        """Remount the superblock ro/rw: every namespace's view of it changes
        (root ignores mode bits, so chmod would not do)."""
        subprocess.run(["mount", "-o", f"remount,{'ro' if ro else 'rw'}", self.path], check=True,
                       capture_output=True)

    def remove(self) -> None:
        subprocess.run(["umount", "-l", self.path], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)
