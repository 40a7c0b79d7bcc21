"""The Textual operator console.

Frames at up to 120 a second unless the operator's environment says
otherwise (``TEXTUAL_FPS``, Textual's own setting, read once when Textual is
first imported, which is why it is set here, before any module of the
console imports Textual).  Textual's default of 60 makes a key press whose
screen is ready wait up to 16.7 ms for the next frame slot; a screen is
only redrawn when something on it changed, so the higher cap costs nothing
while idle, and under the 255-VRID pair load the console's CPU stayed the
same (26-28 % of a core both ways) while the worst key press -> frame of
four runs went from 68-102 ms to 69-87 ms (issue 11,
benchmarks/console_responsiveness.py pair).
"""

import os

os.environ.setdefault("TEXTUAL_FPS", "120")
