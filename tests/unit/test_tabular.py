"""The one CSV reader (services/tabular.py): its encoding fallback, separator detection, located
refusals and limits, as every import relies on them."""

from __future__ import annotations

import pytest

from scorecard.errors import Located
from services.tabular import (
    LATIN_1_NOTE,
    WINDOWS_1252_NOTE,
    CsvError,
    CsvLimits,
    decode,
    first_line_separator,
    read_csv,
)

LIMITS = CsvLimits(bytes=10_000, lines=100, rows=10, columns=5)


def refusal(content: bytes, limits: CsvLimits = LIMITS, **options: object) -> CsvError:
    with pytest.raises(CsvError) as caught:
        read_csv(content, limits, **options)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("content", "encoding", "note"),
    [
        ("Commune;Été\n".encode(), "utf-8", None),
        (b"\xef\xbb\xbf" + "Commune;Été\n".encode(), "utf-8", None),
        ("Commune;Été\n".encode("cp1252"), "cp1252", WINDOWS_1252_NOTE),
        (b"Commune;\x81\n", "latin-1", LATIN_1_NOTE),  # 0x81: undefined in Windows-1252
    ],
    ids=["utf-8", "utf-8-bom", "windows-1252", "latin-1"],
)
def test_the_encoding_falls_back_with_a_warning(content, encoding, note):
    text, found, warning = decode(content)
    assert (found, warning) == (encoding, note)
    assert text.startswith("Commune;") and "\ufeff" not in text
    assert read_csv(content, LIMITS).note == note


def test_strict_reading_accepts_utf8_only_and_says_which_byte():
    assert refusal("a;b\nÉté;1\n".encode("cp1252"), strict=True).messages == [
        "le fichier n'est pas en UTF-8 (octet 5)"
    ]


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("a;b;c\n1;2;3\n", ";"),
        ("a,b,c\n", ","),
        ("a\tb\tc\n", "\t"),
        ("a;b,c\n", ";"),
        ("\n\na,b;c,d\n", ","),
    ],
)
def test_the_separator_is_what_the_first_line_holds_most_of(text, separator):
    assert first_line_separator(text) == separator
    assert read_csv(text.encode(), LIMITS).separator == separator


def test_a_sep_line_names_the_separator_and_line_numbers_stay_physical():
    table = read_csv(b"sep=,\na;b,c\n\n1;2,3\n", LIMITS)
    assert table.separator == ","
    assert table.rows == [(2, ["a;b", "c"]), (4, ["1;2", "3"])]


def test_blank_records_are_skipped_and_quoted_newlines_keep_the_start_line():
    table = read_csv(b'a;b\n;\n"x\ny";2\n3;4\n', LIMITS)
    assert table.rows == [(1, ["a", "b"]), (3, ["x\ny", "2"]), (5, ["3", "4"])]


def test_comment_lines_are_blank_even_with_a_quote_in_them():
    table = read_csv(b"# l'organisation \"R01\na;b\n# fin\n1;2\n", LIMITS, comment="#")
    assert table.rows == [(2, ["a", "b"]), (4, ["1", "2"])]


@pytest.mark.parametrize(
    "content",
    [b"", b"\xef\xbb\xbf", b" \r\n\r\n", b";;;\n;;\n", b"# rien\n"],
    ids=["empty", "bom-only", "blanks", "separators-only", "comments-only"],
)
def test_an_empty_file_is_refused(content):
    assert refusal(content, comment="#").messages == ["fichier vide : aucune ligne"]


def test_binary_and_nul_bytes_are_refused_where_they_are():
    assert refusal(b"PK\x03\x04\x00\x00").messages == ["ce fichier n'est pas un fichier texte CSV"]
    assert "UTF-16" in refusal("a;b\n".encode("utf-16")).messages[0]
    late = b"a;b\n" * 2_000 + b"x;\x00\n"
    error = refusal(late, CsvLimits(bytes=20_000, lines=3_000, rows=3_000, columns=5))
    assert error.problems == [
        Located(None, 2_001, None, "caractère nul (octet 0) : le fichier est endommagé")
    ]


def test_limits_are_located_and_counted_before_parsing():
    assert refusal(b"a;b\n" * 3_000).messages == ["fichier trop volumineux (12 Ko ; 10 Ko au plus)"]
    assert refusal(b"\n" * 200).messages == ["fichier trop long : 201 lignes (100 au plus)"]
    assert refusal(b"a;b\n" * 11).messages == ["fichier trop long : 10 lignes au plus"]
    assert refusal(b"a;b\n1;2;3;4;5;6\n").problems == [Located(None, 2, None, "6 colonnes (5 au plus)")]
    cut = read_csv(b"a;b;c;d;e;f;g\n", CsvLimits(bytes=100, lines=5, rows=5, columns=3, truncate=True))
    assert cut.rows == [(1, ["a", "b", "c"])]
    huge = refusal(b'a;"' + b"x" * 200_000 + b'"\n', CsvLimits(bytes=300_000, lines=5, rows=5, columns=5))
    assert huge.problems == [Located(None, 1, None, "une case dépasse 131072 caractères")]
    assert str(huge) == "ligne 1 : une case dépasse 131072 caractères"


def test_the_frame_reader_applies_the_same_policy_and_locates_a_wide_row():
    from services.tabular import read_frame

    frame, note = read_frame("\n\nCODGEO;Libellé\n01001;Été\n\n01002;Ars\n".encode("cp1252"), LIMITS)
    assert note == WINDOWS_1252_NOTE
    assert list(frame.columns) == ["CODGEO", "Libellé"] and frame["CODGEO"].tolist() == ["01001", "01002"]
    with pytest.raises(CsvError) as wide:
        read_frame(b"a;b\n1;2\n\n3;4;5\n", LIMITS)
    assert wide.value.problems == [Located(None, 4, None, "3 colonnes, plus que les 2 de l'en-tête")]
    with pytest.raises(CsvError, match="guillemet ouvert n'est jamais fermé"):
        read_frame(b'a;b\n1;"2\n3;4\n', LIMITS)
    with pytest.raises(CsvError) as header:
        read_frame(b"\n" + b";".join(b"c%d" % i for i in range(6)) + b"\n", LIMITS)
    assert header.value.problems == [Located(None, 2, None, "6 colonnes (5 au plus)")]
    with pytest.raises(CsvError, match="fichier vide"):
        read_frame(b"\xef\xbb\xbf;;\n", LIMITS)
    with pytest.raises(CsvError, match="fichier trop long : 10 lignes au plus"):
        read_frame(b"a;b\n" + b"1;2\n" * 11, CsvLimits(bytes=10_000, lines=100, rows=10, columns=5))
