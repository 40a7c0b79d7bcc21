"""One rule for every text panel: redraw only when what it shows changed.

A snapshot arrives up to four times a second and most panels (the node
line, a detail pane, a banner) say the same thing as before; ``Static.update``
would lay out and repaint them every time.  Rich ``Text`` compares by
content, so the last one shown is kept on the widget and compared.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

_SHOWN = "_vipdeck_shown"


def update_if_changed(widget: Static, content: Any) -> bool:
    """``widget.update(content)`` unless it shows an equal content already;
    True when it was updated."""
    if getattr(widget, _SHOWN, None) == content:
        return False
    setattr(widget, _SHOWN, content)
    widget.update(content)
    return True
