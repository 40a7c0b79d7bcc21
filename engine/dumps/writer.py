"""Writing a dump file: whole or not at all, never through a planted symlink.

The text goes to a new file beside the target (``O_CREAT|O_EXCL|O_NOFOLLOW``,
mode 0600 as keepalived's umask 0177 gives) and is renamed over it, so a
reader (an exporter polling ``/tmp/keepalived.json``) sees the old file or
the new one, never half of one, and a symlink someone left at the target in
a shared ``/tmp`` is replaced rather than followed.  Errors (disk full,
permission, a missing directory) are raised as ``DumpError`` naming the
file and the cause; the caller logs and reports them, the daemon goes on.
"""

from __future__ import annotations

import errno
import os


class DumpError(Exception):
    def __init__(self, path: str, cause: OSError):
        self.path = path
        self.cause = cause
        why = os.strerror(cause.errno) if cause.errno else str(cause)
        if cause.errno == errno.ENOSPC:
            why = "disk full (" + why + ")"
        super().__init__(f"cannot write {path}: {why}")


def write_atomic(path: str, text: str, mode: int = 0o600) -> None:
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    data = text.encode()
    try:
        try:
            os.unlink(tmp)      # a leftover of an interrupted write of ours
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise DumpError(path, exc) from exc
