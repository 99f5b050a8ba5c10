"""Help where it is needed: the glossary (/aide/glossaire), the reading guides (/aide/guides/…)
and the template globals behind term("IRIS") links and each page's « À quoi sert cette page ? »."""

from __future__ import annotations

from itertools import count

from flask import Blueprint, abort, g, has_request_context, render_template, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from werkzeug.routing import BuildError

from pilotis.auth import require
from services import glossary
from services.glossary import Entry, PageHelp
from services.policy import Action

bp = Blueprint("help", __name__, url_prefix="/aide")

#: The reading guides: address -> (title, who it is for, template).
GUIDES: dict[str, tuple[str, str, str]] = {
    "tableau-de-bord": (
        "Lire le tableau de bord en 5 minutes",
        "Élus, direction",
        "help/guide_scorecard.html",
    ),
    "scenario": ("Lire un scénario d'arbitrage", "Élus", "help/guide_scenario.html"),
    "finances": (
        "Coûts, budgets et scénarios : le guide des finances",
        "Service financier, direction",
        "help/guide_finance.html",
    ),
}


def page_title(endpoint: str) -> str:
    """The name of a page, as its help text gives it (else its endpoint)."""
    found = glossary.page_help(endpoint)
    return found.title if found and found.title else endpoint


def page_links(entry: Entry) -> list[tuple[str, str]]:
    """(title, address) of the pages where an entry's term is used."""
    links = []
    for endpoint in entry.pages:
        try:
            links.append((page_title(endpoint), url_for(endpoint)))
        except BuildError:
            continue
    return links


@bp.app_template_global()
def term(name: str, text: str | None = None) -> Markup:
    """``{{ term("IRIS") }}``: the word as a link to its glossary entry, its short definition as
    the link's title and description. A term with no entry is shown as plain text (the tests
    scan the templates, so a page cannot ship one)."""
    entry = glossary.lookup(name)
    shown = escape(text or name)
    if entry is None or not has_request_context():
        return shown
    number = next(g.setdefault("glossary_ids", count(1)))
    ident = f"gl-{entry.slug}-{number}"
    return Markup(
        '<a class="term" href="{href}" title="{short}" aria-describedby="{ident}">{shown}</a>'
        '<span hidden id="{ident}">{short}</span>'
    ).format(href=url_for("help.entry", slug=entry.slug), short=entry.short, ident=ident, shown=shown)


@bp.app_template_global()
def page_help(endpoint: str | None) -> PageHelp | None:
    return glossary.page_help(endpoint)


@bp.app_template_global()
def glossary_entries(names: list[str] | None = None) -> list[Entry]:
    """Every entry, or those of the given terms (the ABS report's annex)."""
    return glossary.used_in(names) if names is not None else list(glossary.entries())


@bp.app_template_global()
def abs_glossary() -> list[Entry]:
    """The ABS report's glossary annex: the entries of the terms it uses."""
    return glossary.used_in(list(glossary.ABS_REPORT_TERMS))


@bp.get("/")
def index() -> ResponseReturnValue:
    require(Action.VIEW)
    return render_template("help/index.html", guides=GUIDES, count=len(glossary.entries()))


@bp.get("/glossaire")
def glossary_page() -> ResponseReturnValue:
    require(Action.VIEW)
    entries = glossary.entries()
    letters = sorted({glossary.sort_key(e.term)[0].upper() for e in entries})
    return render_template(
        "help/glossary.html",
        entries=entries,
        letters=letters,
        links={e.slug: page_links(e) for e in entries},
        sort_key=glossary.sort_key,
    )


@bp.get("/glossaire/<slug>")
def entry(slug: str) -> ResponseReturnValue:
    require(Action.VIEW)
    found = glossary.by_slug(slug)
    if found is None:
        abort(404)
    return render_template("help/entry.html", entry=found, links=page_links(found))


@bp.get("/guides/<name>")
def guide(name: str) -> ResponseReturnValue:
    require(Action.VIEW)
    if name not in GUIDES:
        abort(404)
    title, audience, template = GUIDES[name]
    return render_template(template, title=title, audience=audience, guides=GUIDES)
