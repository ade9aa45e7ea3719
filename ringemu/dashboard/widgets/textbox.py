"""A text widget that repaints without re-laying out the screen when its height is unchanged.

``Static.update`` asks for a new layout on every call, and a layout pass costs far more than the
repaint itself; the dashboard updates its texts several times a second, so this one only asks
for a layout when the wrapped height changes.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class TextBox(Widget):
    DEFAULT_CSS = "TextBox { height: auto; }"

    def __init__(self, text: str | Text = "", **kw) -> None:
        super().__init__(**kw)
        self.text = Text(text) if isinstance(text, str) else text
        self._height = -1

    def set(self, text: str | Text) -> None:
        text = Text(text) if isinstance(text, str) else text
        if text == self.text:
            return
        self.text = text
        width = self.content_region.width or self.size.width
        height = len(text.wrap(self.app.console, width)) if width > 0 else -1
        self.refresh(layout=height != self._height)
        self._height = height

    def render(self) -> Text:
        return self.text
