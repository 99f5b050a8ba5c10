"""Creating an organisation for any French territory, from the national reference files.

A CCAS or a commune covers one commune; a CIAS or an EPCI the member communes of an EPCI
(its SIREN); a département its communes and their EPCI. The organisation gets its territory
tree (France -> région -> département -> EPCI -> commune [-> arrondissement] -> IRIS, IRIS named
where Filosofi publishes their names; a commune without IRIS is its own only territory), the
statistics the reference files hold for those territories (INSEE Filosofi 2019, CNAF 2020, with
source and vintage, secret cells stored as secret), and its first administrator with a
temporary password.

Everything is checked before anything is written: an unknown code, a code of the wrong level for
the kind, an organisation that already exists for the same code and kind, a bad administrator
address raise :class:`OrganisationError` and nothing is added to the session. The function
flushes; the caller commits (or rolls back).

The statistics are read with the statistics import's own parser
(:func:`services.statistics_import.parse_statistics`): the reference files keep the producers'
layout, so a file imported later by the user and the one loaded at creation give the same rows.
Territories and statistics are inserted in bulk (a département holds tens of thousands of
figures); the audit journal gets one line per table saying what was loaded and from where.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models import (
    AuditEntry,
    Organisation,
    OrganisationKind,
    Role,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
    User,
)
from models.enums import LABELS_FR
from scorecard.errors import UserError
from services import reference_data as ref
from services.accounts import (
    AccountError,
    create_user,
    hash_password,
    new_session_token,
    password_problem,
    temporary_expiry,
    temporary_password,
)
from services.audit import current_actor
from services.statistics_import import SOURCE_OF, parse_statistics

#: The level of territory each kind of organisation is created for.
LEVEL_OF = {
    OrganisationKind.CCAS: "commune",
    OrganisationKind.COMMUNE: "commune",
    OrganisationKind.CIAS: "epci",
    OrganisationKind.EPCI: "epci",
    OrganisationKind.DEPARTEMENT: "departement",
}
LEVEL_WORDS = {
    "commune": "une commune (code INSEE à 5 caractères, ex. 35238 ou 2A004)",
    "epci": "un EPCI (numéro SIREN à 9 chiffres, ex. 243500139)",
    "departement": "un département (code à 2 ou 3 caractères, ex. 35, 2A ou 974)",
}
KINDS_FOR_LEVEL = {"commune": "ccas ou commune", "epci": "cias ou epci", "departement": "departement"}
ADMIN_NAME = "Administrateur de l'organisation"
TERRITORY_WORDS = {
    TerritoryKind.FRANCE: ("France", "France"),
    TerritoryKind.REGION: ("région", "régions"),
    TerritoryKind.DEPARTEMENT: ("département", "départements"),
    TerritoryKind.EPCI: ("EPCI", "EPCI"),
    TerritoryKind.COMMUNE: ("commune ou arrondissement", "communes ou arrondissements"),
    TerritoryKind.QUARTIER: ("quartier", "quartiers"),
    TerritoryKind.IRIS: ("IRIS", "IRIS"),
    TerritoryKind.QPV: ("QPV", "QPV"),
}


class OrganisationError(UserError):
    """A refusal to show the person, in French; nothing has been written."""


@dataclass(frozen=True)
class Perimeter:
    """What an organisation covers: its territory and the communes in it."""

    kind: OrganisationKind
    level: str  # "commune", "epci" or "departement"
    code: str
    name: str
    #: commune codes (municipal arrondissements not included: they come with their commune)
    communes: tuple[str, ...]


@dataclass
class CreatedOrganisation:
    organisation: Organisation
    admin: User | None
    #: the administrator's temporary password, shown once
    password: str | None
    territories: dict[str, int] = field(default_factory=dict)
    statistics: dict[str, int] = field(default_factory=dict)  # "INSEE Filosofi 2019": rows
    secret: int = 0

    @property
    def statistics_total(self) -> int:
        return sum(self.statistics.values())

    def territories_text(self) -> str:
        """« 1 France, 1 région, 1 département, 1 EPCI, 21 communes, 992 IRIS »."""
        parts = []
        for kind in TerritoryKind:
            count = self.territories.get(kind.value, 0)
            if count:
                singular, plural = TERRITORY_WORDS[kind]
                parts.append(f"{count} {singular if count == 1 else plural}")
        return ", ".join(parts)


# -- what a code is ---------------------------------------------------------------------------
def parse_kind(kind: str | OrganisationKind) -> OrganisationKind:
    try:
        return OrganisationKind(str(kind).strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in OrganisationKind)
        raise OrganisationError(f"type d'organisation « {kind} » inconnu : {known}.") from None


def normalise_code(code: str) -> str:
    """Codes as INSEE writes them: a commune's leading zero (``1001`` -> ``01001``) and a
    département's (``1`` -> ``01``) put back, Corsican letters upper case."""
    text = re.sub(r"\s+", "", str(code)).upper()
    if text.isdigit() and len(text) == 4:
        return text.zfill(5)
    if text.isdigit() and len(text) == 1:
        return text.zfill(2)
    return text


def describe_code(code: str) -> tuple[str, str] | None:
    """(level, French description) of a reference code, or None when no file knows it."""
    communes = ref.communes()
    if code in communes.index:
        row = communes.loc[code]
        if row["commune"]:
            parent = communes.loc[row["commune"], "name"]
            return "arrondissement", f"un arrondissement municipal de {parent} ({row['name']})"
        return "commune", f"la commune {row['name']}"
    wider = ref.wider_territories()
    for level, words in (("epci", "l'EPCI"), ("departement", "le département")):
        found = wider[(wider["kind"] == level) & (wider["code"] == code)]
        if len(found):
            return level, f"{words} {found['name'].iloc[0]}"
    return None


def perimeter(kind: str | OrganisationKind, code: str) -> Perimeter:
    """The territory of an organisation of ``kind`` for ``code``; OrganisationError if it does not fit."""
    org_kind = parse_kind(kind)
    level = LEVEL_OF[org_kind]
    label = LABELS_FR[org_kind]
    normal = normalise_code(code)
    if not normal:
        raise OrganisationError(f"indiquez le code du territoire : {LEVEL_WORDS[level]}.")
    found = describe_code(normal)
    if found is None:
        raise OrganisationError(
            f"code « {code} » inconnu : aucune commune, aucun EPCI ni aucun département de ce code dans les "
            f"fichiers de référence (INSEE, géographie de Filosofi 2019). Une organisation de type {label} se crée pour "
            f"{LEVEL_WORDS[level]}."
        )
    found_level, what = found
    communes = ref.communes()
    if found_level == "arrondissement":
        parent = str(communes.loc[normal, "commune"])
        raise OrganisationError(
            f"« {normal} » est {what} : l'organisation se crée pour la commune entière ({parent}), "
            "qui comprend ses arrondissements et leurs IRIS."
        )
    if found_level != level:
        hint = ""
        if found_level == "commune" and level == "epci":
            epci = str(communes.loc[normal, "epci"])
            described = describe_code(epci) if epci else None
            hint = (
                f" Elle appartient à {described[1]} ({epci})."
                if described
                else " Elle n'appartient à aucun EPCI."
            )
        raise OrganisationError(
            f"« {normal} » est {what} : une organisation de type {label} se crée pour {LEVEL_WORDS[level]}. Pour {what}, "
            f"choisissez le type {KINDS_FOR_LEVEL[found_level]}.{hint}"
        )
    own = communes[communes["commune"] == ""]
    if level == "commune":
        members: list[str] = [normal]
        name = str(communes.loc[normal, "name"])
    else:
        column = "epci" if level == "epci" else "dep"
        members = sorted(own.loc[own[column] == normal, "code"])
        wider = ref.wider_territories()
        name = str(wider.loc[(wider["kind"] == level) & (wider["code"] == normal), "name"].iloc[0])
    return Perimeter(kind=org_kind, level=level, code=normal, name=name, communes=tuple(members))


def default_name(kind: OrganisationKind, territory_name: str) -> str:
    """« CCAS de Rennes », « CCAS d'Ajaccio », « CIAS – Rennes Métropole », « Département – Nord »."""
    if kind in (OrganisationKind.CCAS, OrganisationKind.COMMUNE):
        first = unicodedata.normalize("NFKD", territory_name[:1]).encode("ascii", "ignore").decode().upper()
        article = "d'" if first in tuple("AEIOUY") else "de "
        return f"{LABELS_FR[kind]} {article}{territory_name}"
    if kind is OrganisationKind.EPCI:
        return territory_name
    return f"{LABELS_FR[kind]} – {territory_name}"


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"-+", "-", "".join(c if c.isalnum() else "-" for c in ascii_text.lower())).strip("-")


def _free_slug(session: Session, kind: OrganisationKind, name: str, code: str) -> str:
    base = f"{kind.value}-{_slugify(name)}"[:50].rstrip("-")
    taken = set(session.scalars(select(Organisation.slug).where(Organisation.slug.like(f"{base}%"))))
    for candidate in (base, f"{base}-{code.lower()}", *(f"{base}-{code.lower()}-{n}" for n in range(2, 100))):
        if candidate not in taken:
            return candidate
    raise OrganisationError(f"aucun identifiant libre pour « {name} »")  # pragma: no cover - 100 namesakes


# -- the tree ---------------------------------------------------------------------------------
@dataclass
class _Node:
    kind: TerritoryKind
    code: str
    name: str
    parent: tuple[TerritoryKind, str] | None


def _tree(scope: Perimeter) -> list[_Node]:
    """The organisation's territories, parents before children."""
    communes = ref.communes()
    wider = ref.wider_territories()
    names = dict(zip(wider["kind"] + ":" + wider["code"], wider["name"], strict=True))
    region_of = dict(
        zip(
            wider.loc[wider["kind"] == "departement", "code"],
            wider.loc[wider["kind"] == "departement", "parent"],
            strict=True,
        )
    )
    own = communes.loc[list(scope.communes)]
    arrondissements = communes[communes["commune"].isin(scope.communes)]
    # an EPCI hangs from the département of most of the organisation's communes in it
    epci_dep: dict[str, str] = {}
    for epci, members in own[own["epci"] != ""].groupby("epci")["dep"]:
        counts = Counter(str(d) for d in members)
        epci_dep[str(epci)] = min(counts, key=lambda d: (-counts[d], d))
    if scope.level == "departement":
        epci_dep = dict.fromkeys(epci_dep, scope.code)
    deps = sorted(
        set(epci_dep.values())
        | set(own.loc[own["epci"] == "", "dep"])
        | ({scope.code} if scope.level == "departement" else set())
    )
    regions = sorted({region_of[d] for d in deps})
    nodes = [_Node(TerritoryKind.FRANCE, "FR", names["france:FR"], None)]
    nodes += [
        _Node(TerritoryKind.REGION, r, names[f"region:{r}"], (TerritoryKind.FRANCE, "FR")) for r in regions
    ]
    nodes += [
        _Node(TerritoryKind.DEPARTEMENT, d, names[f"departement:{d}"], (TerritoryKind.REGION, region_of[d]))
        for d in deps
    ]
    nodes += [
        _Node(TerritoryKind.EPCI, e, names[f"epci:{e}"], (TerritoryKind.DEPARTEMENT, d))
        for e, d in sorted(epci_dep.items())
    ]
    for row in own.itertuples():
        parent = (
            (TerritoryKind.EPCI, str(row.epci)) if row.epci else (TerritoryKind.DEPARTEMENT, str(row.dep))
        )
        nodes.append(_Node(TerritoryKind.COMMUNE, str(row.code), str(row.name), parent))
    for row in arrondissements.itertuples():
        nodes.append(
            _Node(
                TerritoryKind.COMMUNE, str(row.code), str(row.name), (TerritoryKind.COMMUNE, str(row.commune))
            )
        )
    all_iris = ref.iris()
    for row in all_iris[
        all_iris["commune"].isin(set(scope.communes) | set(arrondissements["code"]))
    ].itertuples():
        name = str(row.name) or f"IRIS {row.code}"
        nodes.append(
            _Node(TerritoryKind.IRIS, str(row.code), name, (TerritoryKind.COMMUNE, str(row.commune)))
        )
    return nodes


def _insert_tree(
    session: Session, organisation_id: int, nodes: list[_Node]
) -> dict[tuple[TerritoryKind, str], int]:
    """Insert the territories level by level (a child needs its parent's id)."""
    ids: dict[tuple[TerritoryKind, str], int] = {}
    pending = list(nodes)
    while pending:
        ready = [n for n in pending if n.parent is None or n.parent in ids]
        if not ready:  # pragma: no cover - the tree is built parents first
            raise OrganisationError("arborescence des territoires incohérente dans les fichiers de référence")
        rows = [
            {
                "organisation_id": organisation_id,
                "kind": n.kind,
                "code": n.code,
                "name": n.name,
                "parent_id": ids[n.parent] if n.parent else None,
                "population": None,
                "population_vintage": None,
            }
            for n in ready
        ]
        result = session.execute(
            insert(Territory).returning(Territory.kind, Territory.code, Territory.id), rows
        )
        for kind, code, territory_id in result:
            ids[(TerritoryKind(kind), code)] = territory_id
        done = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in done]
    return ids


# -- statistics -------------------------------------------------------------------------------
LEVEL_KIND = {
    "region": TerritoryKind.REGION,
    "departement": TerritoryKind.DEPARTEMENT,
    "commune": TerritoryKind.COMMUNE,
    "iris": TerritoryKind.IRIS,
}


def statistics_rows(ids: dict[tuple[TerritoryKind, str], int]) -> pd.DataFrame:
    """The reference statistics of the territories in ``ids`` as rows of ``territory_statistics``
    (without ``organisation_id``), parsed by the statistics import's parser."""
    parts: list[pd.DataFrame] = []
    for name, layout, level, vintage in ref.STATISTICS_FILES:
        kind = LEVEL_KIND[level]
        wanted = {code: territory_id for (k, code), territory_id in ids.items() if k is kind}
        frame = ref.statistics_file(name)
        frame = frame[frame[ref.CODE_COLUMN[layout]].isin(wanted)]
        if frame.empty:
            continue
        rows, errors, found = parse_statistics(frame, layout=layout, vintage=vintage)
        if errors or found != vintage:
            raise OrganisationError(f"fichier de référence {name} illisible : {'; '.join(errors[:3])}")
        rows["territory_id"] = rows["code"].map(wanted)
        rows["vintage"] = vintage
        rows["source"] = SOURCE_OF[layout]
        parts.append(rows)
    if not parts:
        return pd.DataFrame(
            columns=["territory_id", "variable", "label", "unit", "vintage", "source", "value", "is_secret"]
        )
    rows = pd.concat(parts, ignore_index=True)
    rows["is_secret"] = rows["is_secret"].astype(bool)
    return rows[["territory_id", "variable", "label", "unit", "vintage", "source", "value", "is_secret"]]


def _insert_statistics(session: Session, organisation_id: int, rows: pd.DataFrame) -> None:
    if rows.empty:
        return
    values = rows["value"].astype(object).where(~rows["is_secret"], None)
    records: list[dict[str, Any]] = [
        {
            "organisation_id": organisation_id,
            "territory_id": int(t),
            "variable": v,
            "label": lab,
            "unit": u,
            "vintage": int(y),
            "source": s,
            "value": None if x is None else float(x),
            "is_secret": bool(sec),
        }
        for t, v, lab, u, y, s, x, sec in zip(
            rows["territory_id"],
            rows["variable"],
            rows["label"],
            rows["unit"],
            rows["vintage"],
            rows["source"],
            values,
            rows["is_secret"],
            strict=True,
        )
    ]
    session.execute(insert(TerritoryStatistic), records)


# -- creation ---------------------------------------------------------------------------------
def _check_admin(session: Session, email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    address = email.strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address) or len(address) > 254:
        raise OrganisationError(f"adresse de l'administrateur invalide : « {email.strip()} ».")
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise OrganisationError(f"un compte existe déjà pour « {address} » : choisissez une autre adresse.")
    return address


def existing(session: Session, kind: OrganisationKind, code: str) -> Organisation | None:
    return session.scalar(
        select(Organisation).where(Organisation.kind == kind, Organisation.insee_code == code)
    )


def create_organisation(
    session: Session,
    kind: str | OrganisationKind,
    code: str,
    *,
    name: str | None = None,
    admin_email: str | None = None,
    admin_name: str | None = None,
    now: datetime,
) -> CreatedOrganisation:
    """Create the organisation, its territories, its statistics and its administrator. Flushes.

    Raises :class:`OrganisationError` before writing anything when the request does not fit.
    """
    scope = perimeter(kind, code)
    label = LABELS_FR[scope.kind]
    twin = existing(session, scope.kind, scope.code)
    if twin is not None:
        raise OrganisationError(
            f"une organisation {label} existe déjà pour {scope.name} ({scope.code}) : « {twin.name} », "
            f"identifiant {twin.slug}."
        )
    title = " ".join((name or "").split()) or default_name(scope.kind, scope.name)
    if len(title) > 200:
        raise OrganisationError("le nom de l'organisation doit compter au plus 200 caractères.")
    address = _check_admin(session, admin_email)
    nodes = _tree(scope)

    organisation = Organisation(
        slug=_free_slug(session, scope.kind, scope.name, scope.code),
        name=title,
        kind=scope.kind,
        insee_code=scope.code,
        siren=scope.code if scope.level == "epci" and scope.kind is OrganisationKind.EPCI else None,
    )
    session.add(organisation)
    session.flush()
    ids = _insert_tree(session, organisation.id, nodes)
    rows = statistics_rows(ids)
    _insert_statistics(session, organisation.id, rows)
    result = CreatedOrganisation(organisation=organisation, admin=None, password=None)
    result.territories = dict(Counter(kind.value for kind, _ in ids))
    result.statistics = dict(
        Counter(f"{s} {v}" for s, v in zip(rows["source"], rows["vintage"], strict=True))
    )
    result.secret = int(rows["is_secret"].sum())
    _journal(session, organisation.id, result)

    if address is not None:
        full_name = " ".join((admin_name or "").split()) or ADMIN_NAME
        password = temporary_password()
        while password_problem(password, email=address, full_name=full_name):  # pragma: no cover - 1 in 10^9
            password = temporary_password()
        result.admin = create_user(
            session,
            organisation=organisation,
            email=address,
            full_name=full_name,
            role=Role.ADMIN,
            services=[],
            password=password,
            now=now,
            temporary=True,
        )
        result.password = password
    session.flush()
    return result


def _journal(session: Session, organisation_id: int, result: CreatedOrganisation) -> None:
    """One journal line per bulk-loaded table: what was loaded, from which files."""
    territories = result.territories_text()
    statistics = ", ".join(f"{n} {source}" for source, n in sorted(result.statistics.items()))
    for table, text in (
        (
            "territories",
            f"{sum(result.territories.values())} territoires des fichiers de référence ({territories})",
        ),
        (
            "territory_statistics",
            f"{result.statistics_total} statistiques ({statistics or 'aucune'}), dont {result.secret} secrètes",
        ),
    ):
        session.add(
            AuditEntry(
                organisation_id=organisation_id,
                user_id=current_actor.get(),
                action="insert",
                table_name=table,
                row_id=f"organisation {organisation_id}",
                field=None,
                old_value=None,
                new_value=text,
            )
        )


def create_server_admin(
    session: Session,
    *,
    email: str,
    full_name: str,
    organisation: Organisation | None,
    role: Role,
    now: datetime,
) -> tuple[User, str]:
    """A server administrator (who creates organisations) with a temporary password, shown once.

    Of an organisation, they are also an account of it with ``role``; of none, they see no
    organisation's rows. Raises :class:`services.accounts.AccountError`.
    """
    password = temporary_password()
    if organisation is not None:
        user = create_user(
            session,
            organisation=organisation,
            email=email,
            full_name=full_name,
            role=role,
            services=[],
            password=password,
            now=now,
            temporary=True,
        )
        user.is_superadmin = True
        session.flush()
        return user, password
    address = email.strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", address) or len(address) > 254:
        raise AccountError(f"Adresse électronique invalide : « {email.strip()} ».")
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise AccountError(f"Un compte existe déjà pour « {address} ».")
    while password_problem(password, email=address, full_name=full_name):  # pragma: no cover - 1 in 10^9
        password = temporary_password()
    user = User(
        organisation_id=None,
        email=address,
        full_name=full_name.strip(),
        role=Role.ADMIN,
        is_superadmin=True,
        password_hash=hash_password(password),
        session_token=new_session_token(),
        password_changed_at=now,
        password_expires_at=temporary_expiry(now),
    )
    session.add(user)
    session.flush()
    return user, password


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.slug)))
