"""The committed English catalogue is compiled from its .po and translates the whole shell."""

from __future__ import annotations

from gettext import GNUTranslations
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2] / "translations" / "en" / "LC_MESSAGES"


def test_the_mo_file_matches_the_po_file_and_nothing_is_untranslated():
    with open(ROOT / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale="en")
    with open(ROOT / "messages.mo", "rb") as handle:
        compiled = GNUTranslations(handle)
    messages = [m for m in catalog if m.id]
    assert messages
    for message in messages:
        assert message.string, f"untranslated: {message.id}"
        assert compiled.gettext(message.id) == message.string, "run scripts/translations.py"
