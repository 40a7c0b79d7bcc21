"""The confirmation modal every change goes through.

It states the consequence (built by ``console.actions``), collects the
inputs a change needs (reason, hold seconds, weight) and, for changes that
could leave a VIP with nobody, insists on a typed confirmation.  It never
sends anything itself: it dismisses with the typed values or None.

It cannot be answered by keys typed before it was read: it opens disarmed
(its fields and buttons disabled) and arms after ``ARM_DELAY``; the app
drops every key that arrived before that (``accepts``), however late the
event loop gets to it.  A node-wide change opens with Cancel focused, so
even a stray Enter after arming cancels it.
"""

from __future__ import annotations

import time

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from vipdeck.console.actions import ChangePlan


class ConfirmScreen(ModalScreen[dict | None]):
    ARM_DELAY = 0.4     # seconds: longer than a burst of typed-ahead keys, shorter than reading the title
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > #dialog { width: 96; height: auto; max-height: 95%; border: thick $primary;
                              background: $surface; padding: 0 1; }
    ConfirmScreen > #dialog.danger { border: thick $error; }
    ConfirmScreen #title { text-style: bold; width: 1fr; padding-bottom: 1; }
    ConfirmScreen #dialog.danger #title { color: $error; }
    ConfirmScreen #body { height: auto; padding-bottom: 1; }
    ConfirmScreen .field-label { padding-top: 0; color: $text-muted; }
    ConfirmScreen Input { width: 1fr; }
    ConfirmScreen #typed-label { color: $error; text-style: bold; }
    ConfirmScreen #error { color: $error; height: auto; }
    ConfirmScreen #buttons { height: auto; align-horizontal: right; padding-top: 1; }
    ConfirmScreen Button { margin-left: 2; }
    ConfirmScreen #hint { color: $text-muted; height: auto; }
    """

    def __init__(self, plan: ChangePlan, *, frozen: bool = False, focus_cancel: bool = False,
                 arm_delay: float = ARM_DELAY):
        super().__init__()
        self.plan = plan
        self.frozen = frozen
        self.focus_cancel = focus_cancel and not plan.typed   # a typed word is deliberate enough
        self.arm_delay = arm_delay
        self.armed = False
        self.armed_at = float("inf")   # monotonic, the clock of Textual's key events

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger" if self.plan.danger else "", disabled=True):
            yield Label(self.plan.title, id="title")
            yield Static(self.plan.body, id="body")
            for f in self.plan.fields:
                yield Label(f.label, classes="field-label")
                yield Input(value=f.default, placeholder=f.placeholder, id=f"field-{f.name}",
                            type="integer" if f.integer else "text")
            if self.plan.typed:
                words = " or ".join(f"“{w}”" for w in self.plan.typed)
                yield Label(f"Type {words} to confirm", id="typed-label")
                yield Input(placeholder="type it here", id="typed")
            yield Static("", id="error")
            if self.focus_cancel:
                yield Static("A change to the whole node: Cancel has the focus. Tab to Confirm and press Enter "
                             "(or Enter in a field above).", id="hint")
            with Horizontal(id="buttons"):
                yield Button("Cancel (Esc)", id="cancel")
                yield Button("Confirm" if self.focus_cancel else "Confirm (Enter)", id="confirm",
                             variant="error" if self.plan.danger else "primary")

    def on_mount(self) -> None:
        if self.frozen:
            for i in self.query(Input):
                i.cursor_blink = False
        if self.arm_delay > 0:
            self.set_timer(self.arm_delay, self.arm)
        else:
            self.arm()

    def arm(self) -> None:
        """From now on keys and clicks answer the confirmation."""
        if self.armed:
            return
        self.armed = True
        self.armed_at = time.monotonic()
        self.query_one("#dialog").disabled = False
        inputs = list(self.query(Input))
        if self.plan.typed:
            target = self.query_one("#typed", Input)
        elif self.focus_cancel:
            target = self.query_one("#cancel", Button)
        elif inputs:
            target = inputs[0]
        else:
            target = self.query_one("#confirm", Button)
        self.set_focus(target)

    def accepts(self, key: events.Key) -> bool:
        """Whether a key may act on this confirmation: Escape always (cancelling
        is safe), any other only once armed and only if it arrived after that."""
        return key.key == "escape" or (self.armed and key.time >= self.armed_at)

    def values(self) -> dict[str, str]:
        return {f.name: self.query_one(f"#field-{f.name}", Input).value for f in self.plan.fields}

    def problem(self) -> tuple[str, str] | None:
        """Why the change cannot be confirmed yet, and the input to fix (None: it can)."""
        vals = self.values()
        for f in self.plan.fields:
            raw = vals[f.name].strip()
            where = f"field-{f.name}"
            if not raw:
                if f.required:
                    return f"{f.label}: a value is required", where
                continue
            if f.integer:
                try:
                    n = int(raw)
                except ValueError:
                    return f"{f.label}: {raw!r} is not a whole number", where
                if f.minimum is not None and n < f.minimum or f.maximum is not None and n > f.maximum:
                    return f"{f.label}: must be between {f.minimum} and {f.maximum}", where
        if self.plan.typed:
            typed = self.query_one("#typed", Input).value.strip().lower()
            if typed not in {w.lower() for w in self.plan.typed}:
                return "Type " + " or ".join(f"“{w}”" for w in self.plan.typed) + " to confirm", "typed"
        return None

    def _confirm(self) -> None:
        if not self.armed:
            return
        problem = self.problem()
        if problem:
            why, where = problem
            self.query_one("#error", Static).update(why)
            self.query_one(f"#{where}", Input).focus()
            self.app.bell()
            return
        self.dismiss(self.values())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if not self.armed:
            return
        if event.button.id == "confirm":
            self._confirm()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
