"""track_file: a number in a file, times a weight, like keepalived.

The file is re-read when inotify reports it written (closed after writing) or
moved in; deleted or moved away counts as 0, as in keepalived.  When inotify
cannot be used (the directory does not exist yet, or was removed) the tracker
polls ``stat`` every ``poll_interval`` seconds (0.5 s by default) and re-reads
on any change of inode, size or mtime, and goes back to inotify once the
directory exists.  Reading follows keepalived: at most 127 bytes, ``strtol``
with base 0, missing/empty/garbage = 0, a value outside 32 bits is ignored
(the previous value stays).

``init_file`` writes the configured value at start when the file is missing
(or always, with ``overwrite``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from vipdeck.engine.config.model import TrackFile
from vipdeck.engine.track.base import Listener, Tracker
from vipdeck.engine.track.inotify import IN_DELETE, IN_MOVED_FROM, DirWatch
from vipdeck.engine.track.weights import Effect, Weighting, file_effect, fmt_delta, parse_file_value

log = logging.getLogger("vipdeck.track.file")

POLL_INTERVAL = 0.5
READ_LIMIT = 127


class FileTracker(Tracker):
    kind = "file"

    def __init__(self, track: TrackFile, on_change: Listener | None = None, *,
                 poll_interval: float = POLL_INTERVAL, use_inotify: bool = True):
        super().__init__(track.name, on_change)
        self.track = track
        self.path = os.path.abspath(track.file)
        self.directory, self.basename = os.path.split(self.path)
        self.poll_interval = poll_interval
        self.use_inotify = use_inotify
        self.value = 0
        self.exists = False
        self.reads = 0
        self.watch: DirWatch | None = None
        self._poll_task: asyncio.Task | None = None
        self._sig: tuple[int, int, int] | None = None
        self.error: str | None = None

    # -- reading -----------------------------------------------------------

    def read(self) -> int | None:
        """The file's value now (0 when missing); None = ignore this read."""
        try:
            with open(self.path, "rb") as f:
                data = f.read(READ_LIMIT)
            self.exists, self.error = True, None
        except FileNotFoundError:
            self.exists, self.error = False, None
            return 0
        except OSError as e:
            self.exists, self.error = False, e.strerror or str(e)
            return 0
        value = parse_file_value(data)
        if value is None:
            log.warning("track_file %s: number out of range in %s - ignored", self.name, self.path)
        return value

    def refresh(self, value: int | None = None) -> bool:
        """Re-read (or take ``value``); True when the value changed."""
        if value is None:
            value = self.read()
            if value is None:
                return False
        self.reads += 1
        if value == self.value:
            return False
        self.value = value
        self._changed()
        return True

    def init_file(self) -> None:
        init = self.track.init_file
        if init is None:
            return
        if os.path.exists(self.path) and not self.track.init_file_overwrite:
            return
        try:
            with open(self.path, "w") as f:
                f.write(f"{init}\n")
        except OSError as e:
            self.error = f"init_file: {e.strerror or e}"
            log.warning("track_file %s: cannot create %s: %s", self.name, self.path, e)

    # -- watching ----------------------------------------------------------

    def _event(self, name: str, mask: int) -> None:
        if name == "":
            # directory gone, moved, or events lost: re-read and maybe poll
            if self.watch is not None and not self.watch.alive:
                self.watch.close()
                self.watch = None
                self._start_polling()
            self.refresh()
            return
        if name != self.basename:
            return
        if mask & (IN_DELETE | IN_MOVED_FROM):
            self.exists = False
            self.refresh(0)
        else:
            self.refresh()

    def _try_watch(self) -> bool:
        if not self.use_inotify:
            return False
        try:
            self.watch = DirWatch(self.directory, self._event)
            return True
        except OSError as e:
            log.info("track_file %s: no inotify on %s (%s); polling every %gs",
                     self.name, self.directory, e.strerror or e, self.poll_interval)
            return False

    def _stat_sig(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _start_polling(self) -> None:
        if self._poll_task is None:
            self._poll_task = asyncio.get_running_loop().create_task(self._poll(), name=f"track_file {self.name}")

    async def _poll(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.poll_interval)
                sig = self._stat_sig()
                if sig != self._sig:
                    self._sig = sig
                    self.refresh()
                if self.use_inotify and os.path.isdir(self.directory) and self._try_watch():
                    self.refresh()      # anything written between the last poll and the watch
                    return
        finally:
            self._poll_task = None

    @property
    def mode(self) -> str:
        return "inotify" if self.watch is not None else "polling"

    async def start(self) -> None:
        self.init_file()
        if not self._try_watch():
            self._sig = self._stat_sig()
            self._start_polling()
        value = self.read()
        self.value = value if value is not None else 0
        self.reads += 1

    async def stop(self) -> None:
        if self.watch is not None:
            self.watch.close()
            self.watch = None
        task = self._poll_task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._poll_task = None

    # -- effect ------------------------------------------------------------

    def effect(self, w: Weighting) -> Effect:
        return file_effect(self.value, w)

    def state_text(self) -> str:
        return f"value {self.value}"

    def detail(self, w: Weighting) -> str:
        e = self.effect(w)
        head = "FAULT" if e.fault else fmt_delta(e.delta)
        what = f"value {self.value}"
        if w.weight:
            what += f" × {w.weight}" + (" reversed" if w.reverse else "")
        if not self.exists:
            what += ", missing" if self.error is None else f", {self.error}"
        return f"{self.name} {head} ({what})"
