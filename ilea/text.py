"""The text rules of product.md edition 2, wherever a person's text enters: trimmed,
NFC-normalised, line breaks as LF, and no control characters (but line breaks where a
paragraph is allowed) and no bidirectional-override characters.

Pure: the HTTP bodies (``api/text.py``) and the roster files (``ilea/roster_file.py``)
apply the same rules and say the same words.
"""

from __future__ import annotations

import unicodedata

#: Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): text that displays in
#: another order than it reads ("Trojan Source").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = ("\r\n", "\r", "\u2028", "\u2029", "\x85")


class TextRefused(ValueError):
    """Text that breaks a rule; ``kind`` is ``bidi_control`` or ``control_character``.

    ``template`` and ``context`` make ``message`` (``template.format(**context)``), kept apart
    for pydantic's custom errors.
    """

    def __init__(self, kind: str, template: str, context: dict[str, str]) -> None:
        self.kind = kind
        self.template = template
        self.context = context
        self.message = template.format(**context)
        super().__init__(self.message)


def clean(value: str, *, paragraph: bool) -> str:
    """``value`` trimmed, NFC-normalised, with LF line breaks.

    Args:
        paragraph: line breaks are allowed (a justification, a comment), else not (a name).

    Raises:
        TextRefused: a control or bidirectional-override character, naming it (``U+202E``).
    """
    for brk in _LINE_BREAKS:
        value = value.replace(brk, "\n")
    text = unicodedata.normalize("NFC", value).strip()
    for ch in text:
        code = f"U+{ord(ch):04X}"
        if ch in BIDI_CONTROLS:
            raise TextRefused(
                "bidi_control", "must not contain bidirectional-override characters ({code} found)", {"code": code}
            )
        if unicodedata.category(ch) == "Cc" and not (paragraph and ch == "\n"):
            raise TextRefused(
                "control_character",
                "must not contain control characters{allowed} ({code} found)",
                {"allowed": " other than line breaks" if paragraph else " such as tabs or line breaks", "code": code},
            )
    return text
