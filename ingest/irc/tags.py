"""IRCv3 message tags: the value escaping and the ``@k=v;k2=v2`` block.

Escapes are undone one character at a time, as the spec requires, so ``\\\\n`` becomes a
backslash followed by ``n`` and not a newline; an unknown escape ``\\x`` becomes ``x`` and a
lone trailing backslash is dropped.
"""

_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE = str.maketrans({"\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n"})


def unescape_value(raw: str) -> str:
    """Undo the IRCv3 tag value escapes of ``raw``."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        escaped = next(chars, "")
        out.append(_UNESCAPE.get(escaped, escaped))
    return "".join(out)


def escape_value(value: str) -> str:
    """Escape ``value`` so it fits in a tag block; the inverse of :func:`unescape_value`."""
    return value.translate(_ESCAPE)


def parse_tags(block: str) -> dict[str, str]:
    """Parse the tag block (without its leading ``@``); a later duplicate key wins."""
    tags: dict[str, str] = {}
    for item in block.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags[key] = unescape_value(value)
    return tags


def format_tags(tags: dict[str, str]) -> str:
    """Format ``tags`` as a tag block (without the ``@``), always as ``key=value``."""
    return ";".join(f"{key}={escape_value(value)}" for key, value in tags.items())
