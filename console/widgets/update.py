"""One rule for every text panel: redraw only when what it shows changed,
and lay the screen out again only when its height changed.

A snapshot arrives up to four times a second and most panels (the node
line, a detail pane, a banner) say the same thing as before; ``Static.update``
would lay out and repaint them every time.  Rich ``Text`` compares by
content, so the last one shown is kept on the widget and compared.

A detail pane's text does change every snapshot (its counters and ages),
but rarely its number of lines; ``Static.update`` asks for a layout of the
whole screen each time (12-25 ms with 255 VRIDs on two nodes, for every
snapshot).  So the new content's height is measured at the width the panel
was last laid out at and compared with the one measured at the previous
update: the same, and only the panel is repainted.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

_SHOWN = "_vipdeck_shown"
_MEASURED = "_vipdeck_measured"     # (content width, content height) of the last content shown


def update_if_changed(widget: Static, content: Any) -> bool:
    """``widget.update(content)`` unless it shows an equal content already;
    True when it was updated.  No layout when its height stays the same."""
    if getattr(widget, _SHOWN, None) == content:
        return False
    setattr(widget, _SHOWN, content)
    width = widget.content_size.width if widget.is_mounted else 0
    widget.update(content, layout=False)
    measured = None
    if width > 0 and not (widget.styles.width is not None and widget.styles.width.is_auto):
        measured = (width, widget.visual.get_height(widget.styles, width))
    if measured is None or measured != getattr(widget, _MEASURED, None):
        widget.refresh(layout=True)     # a new height (or never laid out, or as wide as its content)
    setattr(widget, _MEASURED, measured)
    return True
