"""A minimal inotify watch on one directory, through libc (no new dependency).

Why a directory and not the file: a tracked file may not exist yet, and tools
replace files by rename; keepalived watches the directory for the file's name
too (close-after-write, moved in/out, deleted).  The fd is non-blocking and
read from the event loop with ``add_reader``, so no thread is involved.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

WATCH_MASK = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
_HEADER = struct.Struct("iIII")

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


class DirWatch:
    """Calls ``callback(name, mask)`` for events in ``directory``.

    ``name`` is "" for events about the directory itself (removed, moved,
    queue overflow): the caller should then re-read and maybe fall back to
    polling.  Raises OSError when inotify cannot be set up.
    """

    def __init__(self, directory: str, callback: Callable[[str, int], None]):
        lib = _lib()
        fd = lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        wd = lib.inotify_add_watch(fd, os.fsencode(directory), WATCH_MASK)
        if wd < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"{os.strerror(err)}: {directory}")
        self.fd = fd
        self.directory = directory
        self.callback = callback
        self.alive = True
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            self.callback("", IN_IGNORED)
            return
        off = 0
        while off + _HEADER.size <= len(data):
            _wd, mask, _cookie, length = _HEADER.unpack_from(data, off)
            raw = data[off + _HEADER.size: off + _HEADER.size + length]
            off += _HEADER.size + length
            name = os.fsdecode(raw.split(b"\0", 1)[0])
            if mask & IN_ISDIR:
                continue
            if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                self.alive = False
                name = ""
            elif mask & IN_Q_OVERFLOW:
                name = ""
            self.callback(name, mask)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                self._loop.remove_reader(self.fd)
            except Exception:
                pass
            os.close(self.fd)
            self.fd = -1
        self.alive = False
