"""Which line of a TOML file holds a given key, so an error can name it.

``tomllib`` reports the line of a syntax error but gives values without their positions, and a
spec error must name the file and line ("ring.toml:14: ..."). This scanner reads the text once,
follows table headers (``[a.b]``, ``[[a]]``) and key lines (``key = ...``, dotted and quoted
keys included), skips the inside of multi-line strings and arrays, and remembers the line of
each key path and of each table. It only locates; ``tomllib`` has parsed and checked the file
before, so what it cannot place (an inline table's inner key) falls back to the nearest
enclosing path it knows.
"""

from __future__ import annotations


def _split_key(text: str) -> list[str]:
    """``a."b.c".d`` -> ["a", "b.c", "d"] (bare or quoted parts, dot separated)."""
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        if text[i] in "\"'":
            q = text[i]
            j = i + 1
            buf = []
            while j < n and text[j] != q:
                if q == '"' and text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            parts.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in ".":
                j += 1
            parts.append(text[i:j].strip())
            i = j
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == ".":
            i += 1
    return parts


def _key_end(line: str) -> int:
    """Index of the ``=`` that ends the key of a key line, or -1."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "=":
            return i
        elif c == "#":
            return -1
    return -1


def _depth_change(value: str, in_string: str | None) -> tuple[int, str | None]:
    """Brackets opened minus closed in ``value`` outside strings, and the multi-line string
    still open at its end (``'''`` or ``\"\"\"``), if any."""
    depth = 0
    i, n = 0, len(value)
    while i < n:
        if in_string:
            end = value.find(in_string, i)
            if end < 0:
                return depth, in_string
            i = end + 3
            in_string = None
            continue
        c = value[i]
        if value.startswith('"""', i) or value.startswith("'''", i):
            in_string = value[i:i + 3]
            i += 3
            continue
        if c in "\"'":
            end = i + 1
            while end < n and value[end] != c:
                end += 2 if (c == '"' and value[end] == "\\") else 1
            i = end + 1
            continue
        if c == "#":
            break
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth, in_string


class TomlLines:
    """Line numbers (1-based) of the keys and tables of one TOML text."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        arrays: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        depth, in_string = 0, None
        for number, raw in enumerate(text.splitlines(), start=1):
            if depth > 0 or in_string:
                d, in_string = _depth_change(raw, in_string)
                depth += d
                continue
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[["):
                path = tuple(_split_key(line[2:line.index("]]")]))
                index = arrays.get(path, -1) + 1
                arrays[path] = index
                table = path + (str(index),)
                self.lines.setdefault(table, number)
                continue
            if line.startswith("["):
                table = tuple(_split_key(line[1:line.index("]")]))
                self.lines.setdefault(table, number)
                continue
            eq = _key_end(line)
            if eq < 0:
                continue
            path = table + tuple(_split_key(line[:eq]))
            for k in range(len(table) + 1, len(path) + 1):  # dotted keys define tables too
                self.lines.setdefault(path[:k], number)
            d, in_string = _depth_change(line[eq + 1:], None)
            depth += d

    def line(self, *path: str | int) -> int | None:
        """The line of ``path`` (keys and table names; integers allowed), or of the nearest
        enclosing table or key that is known; None when nothing is."""
        p = tuple(str(x) for x in path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None
