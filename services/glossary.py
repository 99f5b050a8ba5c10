"""The glossary: one set of entries (services/data/glossary.toml) for the pages' term() links,
/aide/glossaire, the ABS report's annex and docs/glossaire.md (scripts/glossary_doc.py).

Also the pages' « À quoi sert cette page ? » texts (services/data/page_help.toml), keyed by
endpoint. Both files are read once; a malformed file is a located error naming the entry.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from scorecard.errors import Located, UserError

DATA = Path(__file__).resolve().parent / "data"
GLOSSARY_FILE = DATA / "glossary.toml"
PAGE_HELP_FILE = DATA / "page_help.toml"
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Entry:
    term: str
    slug: str
    short: str
    definition: str
    source: str
    formula: str = ""
    aliases: tuple[str, ...] = ()
    #: endpoints of the pages where the term is used (no URL argument)
    pages: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageHelp:
    endpoint: str
    title: str
    text: str
    #: (label, endpoint) of the reading guides and pages to go to next
    links: tuple[tuple[str, str], ...] = ()


def sort_key(text: str) -> str:
    """French alphabetical order: accents and case ignored (« coût » between « CIAS » and « DOB »)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _read(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path.name} illisible : {exc}") from None


@cache
def entries() -> tuple[Entry, ...]:
    """Every entry, in French alphabetical order of its term."""
    raw = _read(GLOSSARY_FILE).get("entry", [])
    if not isinstance(raw, list):
        raise UserError(f"{GLOSSARY_FILE.name} : [[entry]] attendu.")
    found: list[Entry] = []
    problems: list[Located] = []
    for number, item in enumerate(raw, start=1):
        where = f"{GLOSSARY_FILE.name}, entrée {number}"
        missing = [k for k in ("term", "slug", "short", "definition", "source") if not item.get(k)]
        if missing:
            problems.append(Located.plain(f"{where} : {', '.join(missing)} manquant."))
            continue
        if not SLUG.match(item["slug"]):
            problems.append(Located.plain(f"{where} : slug « {item['slug']} » invalide."))
            continue
        found.append(
            Entry(
                term=item["term"],
                slug=item["slug"],
                short=item["short"].strip(),
                definition=item["definition"].strip(),
                source=item["source"].strip(),
                formula=item.get("formula", "").strip(),
                aliases=tuple(item.get("aliases", ())),
                pages=tuple(item.get("pages", ())),
            )
        )
    if problems:
        raise UserError(problems=problems)
    return tuple(sorted(found, key=lambda e: sort_key(e.term)))


@cache
def _index() -> dict[str, Entry]:
    index: dict[str, Entry] = {}
    for entry in entries():
        for name in (entry.term, entry.slug, *entry.aliases):
            index.setdefault(sort_key(name), entry)
    return index


def lookup(name: str) -> Entry | None:
    """The entry of a term, a slug or an alias (case and accents ignored), or None."""
    return _index().get(sort_key(name.strip()))


def by_slug(slug: str) -> Entry | None:
    return next((e for e in entries() if e.slug == slug), None)


def used_in(names: list[str]) -> list[Entry]:
    """The entries of these terms, each once, alphabetical (unknown names left out)."""
    chosen = {e.slug: e for e in (lookup(n) for n in names) if e is not None}
    return sorted(chosen.values(), key=lambda e: sort_key(e.term))


@cache
def page_helps() -> dict[str, PageHelp]:
    """The « À quoi sert cette page ? » text of each endpoint."""
    raw = _read(PAGE_HELP_FILE)
    helps: dict[str, PageHelp] = {}
    for endpoint, item in raw.items():
        if not isinstance(item, dict) or not str(item.get("text", "")).strip():
            raise UserError(f"{PAGE_HELP_FILE.name} : [{endpoint}] sans text.")
        links = tuple((str(label), str(target)) for label, target in item.get("links", []))
        helps[endpoint] = PageHelp(
            endpoint, str(item.get("title", "")), " ".join(str(item["text"]).split()), links
        )
    return helps


def page_help(endpoint: str | None) -> PageHelp | None:
    return page_helps().get(endpoint or "")


def markdown(page_titles: dict[str, str] | None = None) -> str:
    """docs/glossaire.md: every entry, in the glossary's order (scripts/glossary_doc.py)."""
    titles = page_titles if page_titles is not None else {k: h.title for k, h in page_helps().items()}
    lines = [
        "# Glossaire de Pilotis",
        "",
        "<!-- Généré par scripts/glossary_doc.py à partir de services/data/glossary.toml :",
        "     ne pas modifier à la main. -->",
        "",
        "Les mêmes entrées servent aux pages (liens des termes, /aide/glossaire), à l'annexe du",
        "rapport ABS et à ce document.",
        "",
        " · ".join(f"[{e.term}](#{e.slug})" for e in entries()),
        "",
    ]
    for e in entries():
        lines += [f'<a id="{e.slug}"></a>', "", f"## {e.term}", ""]
        if e.aliases:
            lines += [f"*Aussi : {', '.join(e.aliases)}.*", ""]
        lines += [f"**{e.short}**", "", e.definition, ""]
        if e.formula:
            lines += [f"Formule : `{e.formula}`", ""]
        lines += [f"Source : {e.source}", ""]
        used = [titles.get(p, p) for p in e.pages]
        if used:
            lines += [f"Dans Pilotis : {', '.join(used)}.", ""]
    return "\n".join(lines)


#: The terms the ABS report uses: its glossary annex (templates/partials/glossary_annex.html).
ABS_REPORT_TERMS = (
    "ABS",
    "CCAS",
    "CIAS",
    "EPCI",
    "IRIS",
    "QPV",
    "Filosofi",
    "taux de pauvreté",
    "allocataire CAF",
    "RSA",
    "AAH",
    "allocations logement",
    "millésime",
    "secret statistique",
    "besoin couvert",
    "taux de couverture",
    "indicateur",
    "objectif",
    "cible",
    "DOB",
)
