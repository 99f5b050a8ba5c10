"""Every route x every role x own / other-service / other-organisation object.

The table below is the specification of access. The test fails when the application has a
route the table does not list, so a new page cannot ship without its access rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from models import (
    Indicator,
    Need,
    Objective,
    ObjectiveLevel,
    Organisation,
    Period,
    Perspective,
    Review,
    ReviewAction,
    Role,
    Scenario,
    Service,
    Survey,
    User,
)
from models.base import utcnow
from pilotis.database import write_session
from services import accounts
from tests.conftest import csrf_token, demo_email, new_app, rows_added_are_removed, sign_in

LOGINS = {
    "anonymous": None,
    "admin": "admin",
    "direction": "direction",
    "service_manager": "responsable.seniors",
    "finance": "finances",
    "elected": "elu",
    "reader": "partenaire",
}
SIGNED_IN = frozenset(LOGINS) - {"anonymous"}
EVERYONE = frozenset(LOGINS)
#: Internal documents (the cost model, the budget scenarios): neither partners nor service managers.
INTERNAL_READERS = SIGNED_IN - {"reader", "service_manager"}


@dataclass(frozen=True)
class Route:
    method: str
    path: Callable[[dict[str, int]], str]
    #: roles allowed on an object in scope, and the status they get
    allowed: frozenset[str]
    success: int = 200
    #: which variants of the target apply: "own", "other_service", "other_org"
    variants: tuple[str, ...] = ("own",)
    body: Callable[[dict[str, int]], dict] = field(default=lambda ids: {})
    json: bool = False
    api: bool = False


ROUTES: dict[str, Route] = {
    "home.index": Route("GET", lambda i: "/", SIGNED_IN),
    "home.health": Route("GET", lambda i: "/sante", EVERYONE),
    "home.set_language": Route("POST", lambda i: "/langue", EVERYONE, 302, body=lambda i: {"lang": "fr"}),
    "auth.login": Route("GET", lambda i: "/connexion", EVERYONE),
    "auth.logout": Route("POST", lambda i: "/deconnexion", SIGNED_IN, 302),
    "auth.change_password": Route("GET", lambda i: "/compte/mot-de-passe", SIGNED_IN),
    "offer.services": Route("GET", lambda i: "/services", SIGNED_IN),
    "offer.service": Route(
        "GET", lambda i: f"/services/{i['service']}", SIGNED_IN, variants=("own", "other_org")
    ),
    "offer.indicator": Route(
        "GET",
        lambda i: f"/indicateurs/{i['indicator']}",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
    ),
    "journal.index": Route("GET", lambda i: "/journal/", frozenset({"admin", "direction"})),
    "journal.export": Route(
        "GET", lambda i: "/journal/export.xlsx?au=2000-01-01", frozenset({"admin", "direction"})
    ),
    "admin.users": Route("GET", lambda i: "/admin/utilisateurs", frozenset({"admin"})),
    "admin.create_user": Route("GET", lambda i: "/admin/utilisateurs/nouveau", frozenset({"admin"})),
    "admin.edit_user": Route(
        "GET",
        lambda i: f"/admin/utilisateurs/{i['user']}",
        frozenset({"admin"}),
        variants=("own", "other_org"),
    ),
    "admin.deactivate_user": Route(
        "POST",
        lambda i: f"/admin/utilisateurs/{i['user']}/desactiver",
        frozenset({"admin"}),
        303,
        variants=("own", "other_org"),
    ),
    "admin.reactivate_user": Route(
        "POST",
        lambda i: f"/admin/utilisateurs/{i['user']}/reactiver",
        frozenset({"admin"}),
        303,
        variants=("own", "other_org"),
    ),
    "admin.reset_password": Route(
        "POST",
        lambda i: f"/admin/utilisateurs/{i['user']}/mot-de-passe",
        frozenset({"admin"}),
        200,
        variants=("own", "other_org"),
    ),
    "scorecard.index": Route("GET", lambda i: "/tableau-de-bord/?periode=2025-T4", SIGNED_IN),
    "scorecard.service": Route(
        "GET",
        lambda i: f"/tableau-de-bord/service/{i['service']}?periode=2025-T4",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
    ),
    "scorecard.export": Route("GET", lambda i: "/tableau-de-bord/export.xlsx?periode=2025-T4", SIGNED_IN),
    "collection.grid": Route("GET", lambda i: f"/saisie/?service={i['service']}&periode=2026-10", SIGNED_IN),
    "collection.validation": Route("GET", lambda i: "/saisie/validation", frozenset({"direction"})),
    "imports.template": Route(
        "GET",
        lambda i: f"/saisie/excel/modele.xlsx?service={i['service']}&periode=2026-10",
        SIGNED_IN,
        variants=("own", "other_service"),
    ),
    "imports.upload": Route(
        "GET", lambda i: "/saisie/excel/depot", frozenset({"direction", "service_manager"})
    ),
    "steering.objectives": Route("GET", lambda i: "/objectifs", SIGNED_IN),
    "steering.create_objective_page": Route(
        "GET", lambda i: "/objectifs/nouveau", frozenset({"direction", "service_manager"})
    ),
    "steering.edit_objective": Route(
        "GET",
        lambda i: f"/objectifs/{i['objective']}",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
    ),
    "steering.close_objective_page": Route(
        "POST",
        lambda i: f"/objectifs/{i['objective']}/cloture",
        frozenset({"direction", "service_manager"}),
        303,
        variants=("own", "other_org"),
    ),
    "steering.indicators": Route("GET", lambda i: "/indicateurs", SIGNED_IN),
    "steering.create_indicator_page": Route(
        "GET", lambda i: "/indicateurs/nouveau", frozenset({"direction", "service_manager"})
    ),
    "steering.edit_indicator": Route(
        "GET",
        lambda i: f"/indicateurs/{i['indicator']}/definition",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
    ),
    "steering.targets": Route(
        "GET",
        lambda i: f"/indicateurs/{i['indicator']}/cibles",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
    ),
    "strategy.index": Route("GET", lambda i: "/carte-strategique?periode=2025-T4", SIGNED_IN),
    "strategy.add_link_page": Route(
        "POST", lambda i: "/carte-strategique/liens", frozenset({"direction"}), 400
    ),
    "strategy.remove_link_page": Route(
        "POST", lambda i: "/carte-strategique/liens/suppression", frozenset({"direction"}), 400
    ),
    "dashboards.summary": Route("GET", lambda i: "/tableau-de-bord/synthese?periode=2025-T4", SIGNED_IN),
    # fiches action: the direction, and a service manager for their services' actions
    "action_plans.index": Route("GET", lambda i: "/actions", SIGNED_IN),
    "action_plans.new": Route(
        "GET", lambda i: "/actions/nouvelle", frozenset({"direction", "service_manager"})
    ),
    "action_plans.new POST": Route(
        "POST", lambda i: "/actions/nouvelle", frozenset({"direction", "service_manager"}), 400
    ),
    "action_plans.sheet": Route(
        "GET",
        lambda i: f"/actions/{i['action_plan']}",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
    ),
    "action_plans.edit": Route(
        "GET",
        lambda i: f"/actions/{i['action_plan']}/modifier",
        frozenset({"direction", "service_manager"}),
        variants=("own", "other_service", "other_org"),
    ),
    "action_plans.edit POST": Route(
        "POST",
        lambda i: f"/actions/{i['action_plan']}/modifier",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_service", "other_org"),
    ),
    "action_plans.add_milestone_page": Route(
        "POST",
        lambda i: f"/actions/{i['action_plan']}/jalons",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_service", "other_org"),
    ),
    "action_plans.milestone_state": Route(
        "POST",
        lambda i: f"/actions/{i['action_plan']}/jalons/{i['milestone']}",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_service", "other_org"),
    ),
    "action_plans.follow_up": Route(
        "POST",
        lambda i: f"/actions/{i['action_plan']}/suivi",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_service", "other_org"),
    ),
    "needs.register": Route("GET", lambda i: "/besoins", SIGNED_IN),
    "needs.need": Route("GET", lambda i: f"/besoins/{i['need']}", SIGNED_IN, variants=("own", "other_org")),
    "needs.coherence": Route("GET", lambda i: "/coherence", SIGNED_IN),
    "needs.export": Route("GET", lambda i: "/coherence/export.xlsx", SIGNED_IN),
    "needs.publish": Route("POST", lambda i: "/coherence/publier", frozenset({"admin", "direction"}), 303),
    "needs.import_page": Route("GET", lambda i: "/statistiques/import", frozenset({"admin", "direction"})),
    "costs.index": Route("GET", lambda i: "/couts", INTERNAL_READERS),
    "costs.export": Route("GET", lambda i: "/couts/export.xlsx", INTERNAL_READERS),
    "costs.budget_execution": Route("GET", lambda i: "/couts/execution", INTERNAL_READERS),
    "costs.model": Route("GET", lambda i: "/couts/modele", INTERNAL_READERS),
    "costs.upload": Route("GET", lambda i: "/couts/import", INTERNAL_READERS),
    # the needs observatory: the shared diagnostic's statistics, read and exported by every signed-in role
    "observatory.index": Route("GET", lambda i: "/observatoire", SIGNED_IN),
    "observatory.export": Route("GET", lambda i: "/observatoire/export.xlsx", SIGNED_IN),
    "report.index": Route("GET", lambda i: "/abs?annee=2027", SIGNED_IN),
    "report.pdf": Route("GET", lambda i: "/abs/rapport.pdf?annee=2027", SIGNED_IN),
    "report.annex": Route("GET", lambda i: "/abs/annexe.xlsx?annee=2027", SIGNED_IN),
    "report.word": Route("GET", lambda i: "/abs/rapport.docx?annee=2027", SIGNED_IN),
    "report.save": Route("POST", lambda i: "/abs/texte", frozenset({"direction"}), 400),
    # a background task (its progress, its file): the person who asked (here the direction)
    "tasks.show": Route(
        "GET", lambda i: f"/taches/{i['task']}", frozenset({"direction"}), variants=("own", "other_org")
    ),
    "tasks.download": Route(
        "GET",
        lambda i: f"/taches/{i['task']}/fichier",
        frozenset({"direction"}),
        variants=("own", "other_org"),
    ),
    "tasks.cancel_task": Route(
        "POST",
        lambda i: f"/taches/{i['task']}/annuler",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
    ),
    "benchmark.index": Route("GET", lambda i: "/comparaison", SIGNED_IN),
    "benchmark.export": Route("GET", lambda i: "/comparaison/export.xlsx", SIGNED_IN),
    "benchmark.consent": Route("POST", lambda i: "/comparaison/consentement", frozenset({"admin"}), 303),
    "benchmark.values": Route("GET", lambda i: "/comparaison/indicateurs/depense_hab_total", SIGNED_IN),
    "benchmark.references": Route("GET", lambda i: "/comparaison/referentiels", frozenset({"admin"})),
    "benchmark.import_file": Route("POST", lambda i: "/comparaison/referentiels", frozenset({"admin"}), 400),
    "surveys.index": Route("GET", lambda i: "/enquetes", SIGNED_IN),
    "surveys.show": Route(
        "GET", lambda i: f"/enquetes/{i['survey']}", SIGNED_IN, variants=("own", "other_org")
    ),
    "surveys.new_question": Route(
        "POST",
        lambda i: f"/enquetes/{i['survey']}/questions",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
        body=lambda i: {"text": ""},
    ),
    "surveys.edit_question": Route(
        "GET",
        lambda i: f"/enquetes/{i['survey']}/questions/{i['question']}",
        SIGNED_IN,
        variants=("own", "other_org"),
    ),
    "surveys.remove_question": Route(
        "POST",
        lambda i: f"/enquetes/{i['closed_survey']}/questions/{i['closed_question']}/supprimer",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
    ),
    "surveys.move": Route(
        "POST",
        lambda i: f"/enquetes/{i['closed_survey']}/questions/{i['closed_question']}/deplacer",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
        body=lambda i: {"sens": "haut"},
    ),
    "surveys.publish_survey": Route(
        "POST",
        lambda i: f"/enquetes/{i['survey']}/publier",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
    ),
    "surveys.close_survey": Route(
        "POST",
        lambda i: f"/enquetes/{i['survey']}/cloturer",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
    ),
    "surveys.copy": Route(
        "POST",
        lambda i: f"/enquetes/{i['survey']}/copier",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
        body=lambda i: {"title": ""},
    ),
    "surveys.codes": Route(
        "POST",
        lambda i: f"/enquetes/{i['survey']}/codes",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
        body=lambda i: {"count": "0"},
    ),
    "surveys.show_results": Route(
        "GET",
        lambda i: f"/enquetes/{i['closed_survey']}/resultats?par=territory",
        SIGNED_IN,
        variants=("own", "other_org"),
    ),
    "surveys.adopt": Route(
        "POST",
        lambda i: f"/enquetes/{i['closed_survey']}/ponderations",
        frozenset({"elected"}),
        303,
        variants=("own", "other_org"),
        body=lambda i: {"besoin": "INCONNU"},
    ),
    "surveys.export": Route(
        "GET",
        lambda i: f"/enquetes/{i['closed_survey']}/export.xlsx",
        SIGNED_IN - {"reader"},
        variants=("own", "other_org"),
    ),
    "surveys.texts": Route(
        "GET",
        lambda i: f"/enquetes/{i['closed_survey']}/verbatims",
        SIGNED_IN - {"reader"},
        variants=("own", "other_org"),
    ),
    "surveys.entry": Route(
        "GET",
        lambda i: f"/enquetes/{i['closed_survey']}/saisie",
        frozenset({"direction", "service_manager"}),
        variants=("own", "other_org"),
    ),
    "surveys.template": Route(
        "GET",
        lambda i: f"/enquetes/{i['closed_survey']}/modele.xlsx",
        SIGNED_IN,
        variants=("own", "other_org"),
    ),
    "surveys.upload": Route(
        "GET",
        lambda i: f"/enquetes/{i['closed_survey']}/import",
        frozenset({"direction", "service_manager"}),
        variants=("own", "other_org"),
    ),
    "participation.answer": Route("GET", lambda i: f"/participer/{i['token']}", EVERYONE),
    "participation.thanks": Route("GET", lambda i: f"/participer/{i['token']}/merci", EVERYONE),
    # the matrix's scenarios are not shared with the partners; a partner's list shows the shared
    # ones only (tests/web/test_partner_access.py opens a shared one)
    "scenarios.index": Route("GET", lambda i: "/scenarios", SIGNED_IN - {"service_manager"}),
    "scenarios.show": Route(
        "GET", lambda i: f"/scenarios/{i['scenario']}", INTERNAL_READERS, variants=("own", "other_org")
    ),
    "scenarios.export": Route(
        "GET",
        lambda i: f"/scenarios/{i['scenario']}/export.xlsx",
        INTERNAL_READERS,
        variants=("own", "other_org"),
    ),
    "scenarios.problem_file": Route(
        "GET",
        lambda i: f"/scenarios/{i['scenario']}/probleme.json",
        INTERNAL_READERS,
        variants=("own", "other_org"),
    ),
    "scenarios.compare": Route(
        "GET", lambda i: f"/scenarios/comparer?ids={i['scenario']}&ids={i['scenario2']}", INTERNAL_READERS
    ),
    "scenarios.compare_export": Route(
        "GET",
        lambda i: f"/scenarios/comparer.xlsx?ids={i['scenario']}&ids={i['scenario2']}",
        INTERNAL_READERS,
    ),
    "scenarios.share": Route(
        "POST",
        lambda i: f"/scenarios/{i['scenario']}/partage",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
        body=lambda i: {"partage": "non"},
    ),
    "scenarios.run": Route(
        "POST",
        lambda i: f"/scenarios/{i['scenario']}/calculer",
        frozenset({"finance"}),
        303,
        variants=("own", "other_org"),
    ),
    "scenarios.cancel": Route(
        "POST",
        lambda i: f"/scenarios/{i['scenario']}/annuler",
        frozenset({"finance"}),
        303,
        variants=("own", "other_org"),
    ),
    "scenarios.propose_scenario": Route(
        "POST",
        lambda i: f"/scenarios/{i['scenario']}/proposer",
        frozenset({"finance"}),
        303,
        variants=("own", "other_org"),
    ),
    "scenarios.adopt_scenario": Route(
        "POST",
        lambda i: f"/scenarios/{i['scenario']}/adopter",
        frozenset({"elected"}),
        303,
        variants=("own", "other_org"),
    ),
    "reviews.index": Route("GET", lambda i: "/revues", SIGNED_IN),
    "reviews.review": Route(
        "GET", lambda i: f"/revues/{i['review']}", SIGNED_IN, variants=("own", "other_org")
    ),
    "reviews.pack": Route(
        "GET", lambda i: f"/revues/{i['review']}/dossier.xlsx", SIGNED_IN, variants=("own", "other_org")
    ),
    "reviews.add_action": Route(
        "POST",
        lambda i: f"/revues/{i['review']}/actions",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
    ),
    "reviews.update_action": Route(
        "POST",
        lambda i: f"/revues/actions/{i['action']}",
        frozenset({"direction"}),
        303,
        variants=("own", "other_org"),
        body=lambda i: {"status": "open"},
    ),
    "reviews.notifications": Route("GET", lambda i: "/notifications", SIGNED_IN),
    "reviews.mark_read": Route("POST", lambda i: "/notifications/lues", SIGNED_IN, 303),
    "reviews.notification_preferences": Route("GET", lambda i: "/notifications/preferences", SIGNED_IN),
    "reviews.jobs": Route("GET", lambda i: "/admin/taches", frozenset({"admin"})),
    "reviews.run_job": Route("POST", lambda i: "/admin/taches/review-pack", frozenset({"admin"}), 303),
    "reviews.outbox": Route("GET", lambda i: "/admin/boite-d-envoi", frozenset({"admin"})),
    "api.openapi": Route("GET", lambda i: "/api/v1/openapi.json", EVERYONE, api=True),
    "api.me": Route("GET", lambda i: "/api/v1/moi", SIGNED_IN, api=True),
    "api.services": Route("GET", lambda i: "/api/v1/services", SIGNED_IN, api=True),
    "api.service": Route(
        "GET",
        lambda i: f"/api/v1/services/{i['service']}",
        SIGNED_IN,
        variants=("own", "other_org"),
        api=True,
    ),
    "api.update_service": Route(
        "PATCH",
        lambda i: f"/api/v1/services/{i['service']}",
        frozenset({"admin", "direction"}),
        variants=("own", "other_org"),
        body=lambda i: {"version": i["service_version"]},
        json=True,
        api=True,
    ),
    "api.indicators": Route("GET", lambda i: "/api/v1/indicators", SIGNED_IN, api=True),
    "api.objectives": Route("GET", lambda i: "/api/v1/objectives", SIGNED_IN, api=True),
    "api.objective": Route(
        "GET",
        lambda i: f"/api/v1/objectives/{i['objective']}",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
        api=True,
    ),
    "api.indicator_targets": Route(
        "GET",
        lambda i: f"/api/v1/indicators/{i['indicator']}/targets",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
        api=True,
    ),
    "api.indicator_measurements": Route(
        "GET",
        lambda i: f"/api/v1/indicators/{i['indicator']}/measurements",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
        api=True,
    ),
    "api.enter_measurement": Route(
        "POST",
        lambda i: "/api/v1/measurements",
        frozenset({"direction", "service_manager"}),
        400,
        json=True,
        api=True,
        body=lambda i: {"indicator_id": "pas un entier"},
    ),
    "api.scorecard": Route("GET", lambda i: "/api/v1/scorecard?period=2025-T4", SIGNED_IN, api=True),
    "api.indicator": Route(
        "GET",
        lambda i: f"/api/v1/indicators/{i['indicator']}",
        SIGNED_IN,
        variants=("own", "other_service", "other_org"),
        api=True,
    ),
    # set-up wizard: server administrators only (none of the matrix's roles is one)
    "setup.index": Route("GET", lambda i: "/installation/", frozenset()),
    "setup.create": Route("GET", lambda i: "/installation/nouvelle?type=ccas&code=29019", frozenset()),
}
#: The same endpoint answers several methods: each is a row of its own.
EXTRA: dict[str, Route] = {
    "auth.login POST": Route(
        "POST",
        lambda i: "/connexion",
        EVERYONE,
        401,
        body=lambda i: {"email": "personne@example.org", "password": "mauvais-mot-de-passe"},
    ),
    "auth.change_password POST": Route("POST", lambda i: "/compte/mot-de-passe", SIGNED_IN, 400),
    "offer.service POST": Route(
        "POST",
        lambda i: f"/services/{i['service']}",
        frozenset({"admin", "direction"}),
        303,
        variants=("own", "other_org"),
        body=lambda i: {"name": i["service_name"], "description": "", "version": i["service_version"]},
    ),
    "collection.grid POST": Route(
        "POST",
        lambda i: "/saisie/",
        frozenset({"direction", "service_manager"}),
        303,
        body=lambda i: {"service": i["service"], "periode": "2026-10", "action": "enregistrer"},
    ),
    "collection.validation POST": Route(
        "POST",
        lambda i: "/saisie/validation",
        frozenset({"direction"}),
        400,
        body=lambda i: {"action": "valider"},
    ),
    "imports.upload POST": Route(
        "POST", lambda i: "/saisie/excel/depot", frozenset({"direction", "service_manager"}), 400
    ),
    "steering.create_objective_page POST": Route(
        "POST", lambda i: "/objectifs/nouveau", frozenset({"direction", "service_manager"}), 400
    ),
    "steering.edit_objective POST": Route(
        "POST",
        lambda i: f"/objectifs/{i['objective']}",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_service", "other_org"),
    ),
    "steering.create_indicator_page POST": Route(
        "POST", lambda i: "/indicateurs/nouveau", frozenset({"direction", "service_manager"}), 400
    ),
    "steering.edit_indicator POST": Route(
        "POST",
        lambda i: f"/indicateurs/{i['indicator']}/definition",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_service", "other_org"),
    ),
    "steering.targets POST": Route(
        "POST",
        lambda i: f"/indicateurs/{i['indicator']}/cibles",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_service", "other_org"),
    ),
    "needs.need POST": Route(
        "POST",
        lambda i: f"/besoins/{i['need']}",
        frozenset({"elected"}),
        400,
        variants=("own", "other_org"),
        body=lambda i: {"level": "9"},
    ),
    "needs.import_page POST": Route(
        "POST", lambda i: "/statistiques/import", frozenset({"admin", "direction"}), 400
    ),
    "needs.remove_vintage POST": Route(
        "POST", lambda i: "/statistiques/retirer", frozenset({"admin", "direction"}), 400
    ),
    # the value chain (H7): services and partners, activities, needs, coverage links, the model workbook
    "offer.create_service_page": Route(
        "GET", lambda i: "/services/nouveau", frozenset({"admin", "direction"})
    ),
    "offer.create_service_page POST": Route(
        "POST", lambda i: "/services/nouveau", frozenset({"admin", "direction"}), 400
    ),
    "offer.activities": Route("GET", lambda i: "/activites", SIGNED_IN),
    "offer.create_activity_page": Route(
        "GET", lambda i: "/activites/nouvelle", frozenset({"admin", "direction"})
    ),
    "offer.create_activity_page POST": Route(
        "POST", lambda i: "/activites/nouvelle", frozenset({"admin", "direction"}), 400
    ),
    "offer.activity": Route(
        "GET", lambda i: f"/activites/{i['activity']}", SIGNED_IN, variants=("own", "other_org")
    ),
    "offer.activity POST": Route(
        "POST",
        lambda i: f"/activites/{i['activity']}",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "offer.activity_volumes POST": Route(  # no row: nothing to change
        "POST",
        lambda i: f"/activites/{i['activity']}/volumes",
        frozenset({"admin", "direction"}),
        303,
        variants=("own", "other_org"),
    ),
    "offer.activity_deliveries POST": Route(
        "POST",
        lambda i: f"/activites/{i['activity']}/territoires",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "offer.activity_coverage POST": Route(
        "POST",
        lambda i: f"/activites/{i['activity']}/besoins",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "offer.activity_coverage_remove POST": Route(
        "POST",
        lambda i: f"/activites/{i['activity']}/besoins/{i['need']}/retirer",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "offer.archive_activity_page POST": Route(
        "POST",
        lambda i: f"/activites/{i['activity']}/archiver",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "needs.create_need_page": Route("GET", lambda i: "/besoins/nouveau", frozenset({"admin", "direction"})),
    "needs.create_need_page POST": Route(
        "POST", lambda i: "/besoins/nouveau", frozenset({"admin", "direction"}), 400
    ),
    "needs.edit_need": Route(
        "GET", lambda i: f"/besoins/{i['need']}/definition", SIGNED_IN, variants=("own", "other_org")
    ),
    "needs.edit_need POST": Route(
        "POST",
        lambda i: f"/besoins/{i['need']}/definition",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "needs.add_observation_page POST": Route(
        "POST",
        lambda i: f"/besoins/{i['need']}/observations",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "needs.edit_observation_page POST": Route(
        "POST",
        lambda i: f"/besoins/{i['need']}/observations/{i['observation']}",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "needs.need_coverage POST": Route(
        "POST",
        lambda i: f"/besoins/{i['need']}/activites",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "needs.need_coverage_remove POST": Route(
        "POST",
        lambda i: f"/besoins/{i['need']}/activites/{i['activity']}/retirer",
        frozenset({"admin", "direction"}),
        400,
        variants=("own", "other_org"),
    ),
    "model.index": Route("GET", lambda i: "/modele/", frozenset({"admin", "direction"})),
    "model.index POST": Route("POST", lambda i: "/modele/", frozenset({"admin", "direction"}), 400),
    "model.export": Route("GET", lambda i: "/modele/modele.xlsx", frozenset({"admin", "direction"})),
    "surveys.index POST": Route("POST", lambda i: "/enquetes", frozenset({"direction"}), 400),
    "surveys.show POST": Route(
        "POST",
        lambda i: f"/enquetes/{i['survey']}",
        frozenset({"direction"}),
        400,
        variants=("own", "other_org"),
        body=lambda i: {"title": ""},
    ),
    "surveys.edit_question POST": Route(
        "POST",
        lambda i: f"/enquetes/{i['survey']}/questions/{i['question']}",
        frozenset({"direction"}),
        400,
        variants=("own", "other_org"),
        body=lambda i: {"text": ""},
    ),
    "surveys.texts POST": Route(
        "POST",
        lambda i: f"/enquetes/{i['closed_survey']}/verbatims",
        frozenset({"direction", "service_manager"}),
        404,
        variants=("own", "other_org"),
        body=lambda i: {"answer": "0"},
    ),
    "surveys.entry POST": Route(
        "POST",
        lambda i: f"/enquetes/{i['closed_survey']}/saisie",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_org"),
    ),
    "surveys.upload POST": Route(
        "POST",
        lambda i: f"/enquetes/{i['closed_survey']}/import",
        frozenset({"direction", "service_manager"}),
        400,
        variants=("own", "other_org"),
    ),
    "participation.answer POST": Route(
        "POST", lambda i: f"/participer/{i['token']}", EVERYONE, 400, body=lambda i: {"debut": "falsifié"}
    ),
    "scenarios.index POST": Route("POST", lambda i: "/scenarios", frozenset({"finance"}), 400),
    # the ABS files are queued for a worker, then followed on the task's page
    "report.pdf POST": Route("POST", lambda i: "/abs/rapport.pdf?annee=2027", SIGNED_IN, 303),
    "report.word POST": Route("POST", lambda i: "/abs/rapport.docx?annee=2027", SIGNED_IN, 303),
    "costs.model POST": Route("POST", lambda i: "/couts/modele", frozenset({"finance"}), 400),
    "costs.upload POST": Route("POST", lambda i: "/couts/import", frozenset({"finance"}), 400),
    "reviews.notification_preferences POST": Route(
        "POST", lambda i: "/notifications/preferences", SIGNED_IN, 303, body=lambda i: {"app-alert": "on"}
    ),
    "admin.create_user POST": Route(
        "POST", lambda i: "/admin/utilisateurs/nouveau", frozenset({"admin"}), 400
    ),
    "admin.edit_user POST": Route(
        "POST",
        lambda i: f"/admin/utilisateurs/{i['user']}",
        frozenset({"admin"}),
        400,
        variants=("own", "other_org"),
        body=lambda i: {"full_name": ""},
    ),
    "setup.create POST": Route("POST", lambda i: "/installation/nouvelle", frozenset(), 400),
    # the starter catalogue (H10): the organisation's administrator and direction; the wizard's step
    # for a server administrator only (none of the matrix's roles is one); an empty post is refused
    "catalogue.index": Route("GET", lambda i: "/catalogue", frozenset({"admin", "direction"})),
    "catalogue.index POST": Route("POST", lambda i: "/catalogue", frozenset({"admin", "direction"}), 400),
    "setup.catalogue": Route("GET", lambda i: "/installation/1/catalogue", frozenset()),
    "setup.catalogue POST": Route("POST", lambda i: "/installation/1/catalogue", frozenset(), 400),
    # help (issue 24): the guides and the glossary, for everyone signed in
    "help.index": Route("GET", lambda i: "/aide/", SIGNED_IN),
    "help.glossary_page": Route("GET", lambda i: "/aide/glossaire", SIGNED_IN),
    "help.entry": Route("GET", lambda i: "/aide/glossaire/iris", SIGNED_IN),
    "help.guide": Route("GET", lambda i: "/aide/guides/scenario", SIGNED_IN),
}


def test_every_route_of_the_application_is_in_the_matrix(matrix_app):
    declared = {f"{name.split(' ')[0]} {route.method}" for name, route in {**ROUTES, **EXTRA}.items()}
    actual = {
        f"{rule.endpoint} {method}"
        for rule in matrix_app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert actual - declared == set(), "routes missing from the authorization matrix"
    assert declared - actual == set(), "the matrix lists routes that no longer exist"


@pytest.fixture(scope="module")
def targets(engine, demo, other_demo):
    """Objects in scope, of another service, and of another organisation."""
    # the cells commit (publish coverage indicators, close reviews, run and adopt scenarios, write
    # notifications…): every row they or these targets add goes when the module ends
    with rows_added_are_removed(engine):
        with write_session(engine) as session:

            def user_in(org_id: int, login: str) -> int:
                email = f"{login}@matrice.pilotis.example"
                user = session.scalar(select(User).where(User.email == email))
                if user is None:
                    user = accounts.create_user(
                        session,
                        organisation=session.get(Organisation, org_id),
                        email=email,
                        full_name="Compte de test",
                        role=Role.READER,
                        services=[],
                        password="une phrase de passe assez longue",
                        now=utcnow(),
                    )
                return user.id

            def service(org_id: int, code: str) -> Service:
                return session.scalar(
                    select(Service).where(Service.organisation_id == org_id, Service.code == code)
                )

            def indicator(org_id: int, service_code: str) -> int:
                return session.scalar(
                    select(Indicator.id)
                    .join(Service, Service.id == Indicator.service_id)
                    .where(Indicator.organisation_id == org_id, Service.code == service_code)
                    .order_by(Indicator.id)
                    .limit(1)
                )

            def objective(org_id: int, code: str) -> int:
                return session.scalar(
                    select(Objective.id).where(Objective.organisation_id == org_id, Objective.code == code)
                )

            def review(org_id: int) -> tuple[int, int]:
                from services.reviews import close_period

                found = session.scalar(
                    select(Review)
                    .join(Period, Period.id == Review.period_id)
                    .where(Review.organisation_id == org_id, Period.key == "2024-T4")
                )
                if found is None:
                    found = close_period(session, session.get(Organisation, org_id), "2024-T4", now=utcnow())
                action = session.scalar(select(ReviewAction).where(ReviewAction.review_id == found.id))
                if action is None:
                    action = ReviewAction(review_id=found.id, text="Action de la matrice")
                    session.add(action)
                    session.flush()
                return found.id, action.id

            own_review, own_action = review(demo.organisation_id)
            other_review, other_action = review(other_demo.organisation_id)
            own_service = service(demo.organisation_id, "SENIORS")
            throwaway = session.scalar(
                select(Objective).where(
                    Objective.organisation_id == demo.organisation_id, Objective.code == "OO-MATRICE"
                )
            )
            if throwaway is None:
                throwaway = Objective(
                    organisation_id=demo.organisation_id,
                    code="OO-MATRICE",
                    title="Objectif de la matrice",
                    level=ObjectiveLevel.OPERATIONAL,
                    perspective=Perspective.USERS,
                    service_id=own_service.id,
                    parent_id=objective(demo.organisation_id, "OS1"),
                )
                session.add(throwaway)
                session.flush()
            other_service = service(other_demo.organisation_id, "SENIORS")

            def scenario(org_id: int, name: str) -> int:
                from services.scenarios import ScenarioInput, create_scenario

                found = session.scalar(
                    select(Scenario.id).where(Scenario.organisation_id == org_id, Scenario.name == name)
                )
                if found is None:
                    found = create_scenario(
                        session, org_id, ScenarioInput(name=name, year=2027, cut=-0.05), user_id=None
                    ).id
                return found

            def survey(org_id: int, title: str) -> tuple[int, int, str]:
                """A draft survey of the matrix with one question: (survey, question, public token)."""
                from services.surveys import QuestionInput, SurveyInput, add_question, create_survey

                found = session.scalar(
                    select(Survey).where(Survey.organisation_id == org_id, Survey.title == title)
                )
                if found is None:
                    found = create_survey(
                        session, org_id, "Matrice", SurveyInput(title=title, kind="needs"), user_id=None
                    )
                    add_question(session, found, QuestionInput(text="Question de la matrice", kind="text"))
                    add_question(session, found, QuestionInput(text="Seconde question", kind="text"))
                return found.id, found.questions[-1].id, found.token

            def closed_survey(org_id: int) -> tuple[int, int]:
                """The demo's closed satisfaction survey and its last question (refused edits change nothing)."""
                found = session.scalar(
                    select(Survey).where(
                        Survey.organisation_id == org_id,
                        Survey.title == "Satisfaction du portage de repas 2025",
                    )
                )
                return found.id, found.questions[-1].id

            def open_survey(org_id: int) -> str:
                from services.surveys import publish

                found_id, _, token = survey(org_id, "Matrice enquête ouverte")
                found = session.get(Survey, found_id)
                if found.state == "draft":
                    publish(session, found, now=utcnow())
                return token

            def task(org_id: int, user_id: int) -> int:
                """A finished background task of that person, with its file."""
                from models import Task

                done = Task(
                    organisation_id=org_id,
                    user_id=user_id,
                    kind="abs-pdf",
                    key="matrice",
                    state="succeeded",
                    progress=100,
                    result=b"%PDF-matrice",
                    result_name="matrice.pdf",
                    result_type="application/pdf",
                    created_at=utcnow(),
                    finished_at=utcnow(),
                )
                session.add(done)
                session.flush()
                return done.id

            own_direction = session.scalar(select(User.id).where(User.email == demo_email("direction")))
            own_survey, own_question, _ = survey(demo.organisation_id, "Matrice enquête")
            other_survey, other_question, _ = survey(other_demo.organisation_id, "Matrice enquête")
            own_closed, own_closed_question = closed_survey(demo.organisation_id)
            other_closed, other_closed_question = closed_survey(other_demo.organisation_id)
            own_token = open_survey(demo.organisation_id)
            ids = {
                "own": {
                    "survey": own_survey,
                    "question": own_question,
                    "closed_survey": own_closed,
                    "closed_question": own_closed_question,
                    "token": own_token,
                    "service": own_service.id,
                    "indicator": indicator(demo.organisation_id, "SENIORS"),
                    "user": user_in(demo.organisation_id, "matrice.own"),
                    "objective": throwaway.id,
                    "review": own_review,
                    "action": own_action,
                    "scenario": scenario(demo.organisation_id, "Matrice A"),
                    "scenario2": scenario(demo.organisation_id, "Matrice B"),
                    "task": task(demo.organisation_id, own_direction),
                    "need": session.scalar(
                        select(Need.id).where(
                            Need.organisation_id == demo.organisation_id, Need.code == "SDF"
                        )
                    ),
                },
                "other_service": {
                    "indicator": indicator(demo.organisation_id, "SOLIDARITE"),
                    "service": service(demo.organisation_id, "SOLIDARITE").id,
                    "objective": objective(demo.organisation_id, "OO2.1"),
                },
                "other_org": {
                    "survey": other_survey,
                    "question": other_question,
                    "closed_survey": other_closed,
                    "closed_question": other_closed_question,
                    "service": other_service.id,
                    "indicator": indicator(other_demo.organisation_id, "SENIORS"),
                    "user": user_in(other_demo.organisation_id, "matrice.other"),
                    "objective": objective(other_demo.organisation_id, "OO1.1"),
                    "review": other_review,
                    "action": other_action,
                    "scenario": scenario(other_demo.organisation_id, "Matrice A"),
                    "task": task(
                        other_demo.organisation_id, user_in(other_demo.organisation_id, "matrice.other")
                    ),
                    "need": session.scalar(
                        select(Need.id).where(
                            Need.organisation_id == other_demo.organisation_id, Need.code == "SDF"
                        )
                    ),
                },
            }

            # the value chain's pages (H7): an activity and a piece of qualitative evidence of the need
            def value_chain(org_id: int, need_id: int) -> dict[str, int]:
                from models import Activity, EvidenceKind, NeedObservation

                found = session.scalar(select(NeedObservation).where(NeedObservation.need_id == need_id))
                if found is None:
                    found = NeedObservation(
                        need_id=need_id,
                        kind=EvidenceKind.INTERVIEW,
                        observed_on=utcnow().date(),
                        source="Matrice",
                        summary="Preuve de la matrice",
                    )
                    session.add(found)
                    session.flush()
                activity = session.scalar(
                    select(Activity.id).where(
                        Activity.organisation_id == org_id, Activity.code == "A_PORTAGE"
                    )
                )
                return {"activity": activity, "observation": found.id}

            # fiches action (each with a milestone) of the own service, another service, another organisation
            def action_plan(org_id: int, objective_id: int, code: str) -> dict[str, int]:
                from models import ActionMilestone, ActionPlan

                goal = session.get(Objective, objective_id)
                found = session.scalar(
                    select(ActionPlan).where(ActionPlan.organisation_id == org_id, ActionPlan.code == code)
                )
                if found is None:
                    found = ActionPlan(
                        organisation_id=org_id,
                        objective_id=goal.id,
                        service_id=goal.service_id,
                        code=code,
                        title="Action de la matrice",
                    )
                    session.add(found)
                    session.flush()
                    session.add(
                        ActionMilestone(
                            organisation_id=org_id,
                            action_id=found.id,
                            title="Jalon",
                            due_date=utcnow().date(),
                        )
                    )
                    session.flush()
                milestone = session.scalar(
                    select(ActionMilestone.id).where(ActionMilestone.action_id == found.id)
                )
                return {"action_plan": found.id, "milestone": milestone}

            ids["own"] |= action_plan(demo.organisation_id, ids["own"]["objective"], "FA-MATRICE")
            ids["other_service"] |= action_plan(
                demo.organisation_id, ids["other_service"]["objective"], "FA-MATRICE-AUTRE"
            )
            ids["other_org"] |= action_plan(
                other_demo.organisation_id, ids["other_org"]["objective"], "FA-MATRICE"
            )
            ids["own"] |= value_chain(demo.organisation_id, ids["own"]["need"])
            ids["other_org"] |= value_chain(other_demo.organisation_id, ids["other_org"]["need"])
        yield ids


def expected_status(route: Route, role: str, variant: str) -> int:
    if role == "anonymous" and role not in route.allowed:
        return 401 if route.api else 302
    if variant == "other_org" and role != "anonymous":
        return 404
    if variant == "other_service" and role == "service_manager":
        return 403
    return route.success if role in route.allowed else 403


CASES = [
    pytest.param(name, role, variant, id=f"{name}-{role}-{variant}")
    for name, route in {**ROUTES, **EXTRA}.items()
    for role in LOGINS
    for variant in route.variants
]


@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory, database_url, engine):  # type: ignore[no-untyped-def]
    """One application for the whole matrix: a new app per cell costs its URL map and the
    compilation of every template it renders, for no difference in what a request sees."""
    import views.report

    real = views.report.render_pdf
    rendered: dict[tuple[str, str, tuple[str, ...]], bytes] = {}

    def render_once(html: str, *, base_url: str, stylesheets=()):  # type: ignore[no-untyped-def]
        """The matrix is about access: the same document is laid out as a PDF once, not once per
        role (six renderings of about 2 s); each cell still builds its own document."""
        key = (html, base_url, tuple(str(path) for path in stylesheets))
        if key not in rendered:
            rendered[key] = real(html, base_url=base_url, stylesheets=stylesheets)
        return rendered[key]

    app = new_app(database_url, tmp_path_factory.mktemp("matrix") / "instance")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(views.report, "render_pdf", render_once)
        yield app
    app.extensions["pilotis.engine"].dispose()


#: Routes after which the role's session cookie no longer opens a session.
SIGNS_OUT = frozenset({"auth.logout"})


@pytest.fixture(scope="module")
def sessions(matrix_app):  # type: ignore[no-untyped-def]
    """``role -> (session cookie, CSRF token)``, signed in once per role (a sign-in costs a ~100 ms
    scrypt hash). A cell that signs its role out drops the entry, and the next signs in again."""
    return {}


def signed_in_client(app, sessions, role):  # type: ignore[no-untyped-def]
    """A fresh client of ``role`` carrying the role's session cookie, and the CSRF token that goes
    with that cookie (read once, from the page fetched right after signing in)."""
    client = app.test_client()
    if role not in sessions:
        if LOGINS[role]:
            sign_in(client, LOGINS[role])
        page = client.get("/compte/mot-de-passe" if LOGINS[role] else "/connexion")
        assert page.status_code == 200, page.status_code
        sessions[role] = (client.get_cookie("session").value, csrf_token(page.get_data(as_text=True)))
    cookie, token = sessions[role]
    client.set_cookie("session", cookie)
    return client, token


@pytest.mark.parametrize(("name", "role", "variant"), CASES)
def test_access(matrix_app, sessions, engine, targets, name, role, variant):
    from models import Service as S

    route = {**ROUTES, **EXTRA}[name]
    client, token = signed_in_client(matrix_app, sessions, role)
    if name in SIGNS_OUT:
        sessions.pop(role, None)
    ids = dict(targets[variant])
    if "service" in ids:
        with write_session(engine) as session:
            svc = session.get(S, ids["service"])
            ids["service_version"], ids["service_name"] = svc.version, svc.name
    path = route.path(ids)
    if route.json:
        response = client.open(
            path, method=route.method, json=route.body(ids), headers={"X-CSRFToken": token}
        )
    elif route.method == "GET":
        response = client.get(path)
    else:
        response = client.open(path, method=route.method, data={"csrf_token": token, **route.body(ids)})
    assert response.status_code == expected_status(route, role, variant), response.get_data(as_text=True)[
        :300
    ]
    if role == "anonymous" and role not in route.allowed and not route.api:
        assert "/connexion" in response.headers["Location"]
    if response.status_code in (403, 404) and not route.api:
        assert "Accès refusé" in response.get_data(as_text=True) or "introuvable" in response.get_data(
            as_text=True
        )
