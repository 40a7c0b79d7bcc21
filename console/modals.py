"""The confirmation modal every change goes through.

It states the consequence (built by ``console.actions``), collects the
inputs a change needs (reason, hold seconds, weight) and, for changes that
could leave a VIP with nobody, insists on a typed confirmation.  It never
sends anything itself: it dismisses with the typed values or None.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from vipdeck.console.actions import ChangePlan


class ConfirmScreen(ModalScreen[dict | None]):
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
    """

    def __init__(self, plan: ChangePlan, *, frozen: bool = False):
        super().__init__()
        self.plan = plan
        self.frozen = frozen

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger" if self.plan.danger else ""):
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
            with Horizontal(id="buttons"):
                yield Button("Cancel (Esc)", id="cancel")
                yield Button("Confirm (Enter)", id="confirm", variant="error" if self.plan.danger else "primary")

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        if self.frozen:
            for i in inputs:
                i.cursor_blink = False
        if self.plan.typed:
            self.query_one("#typed", Input).focus()
        elif inputs:
            inputs[0].focus()
        else:
            self.query_one("#confirm", Button).focus()

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
        if event.button.id == "confirm":
            self._confirm()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
