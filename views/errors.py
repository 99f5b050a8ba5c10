"""Error pages in French; a database that does not answer gives a 503, not a traceback."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Requête invalide", "La requête envoyée n'a pas pu être comprise."),
    403: ("Accès refusé", "Vous n'avez pas les droits nécessaires pour cette page."),
    404: ("Page introuvable", "L'adresse demandée n'existe pas ou plus."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible sur cette adresse."),
    413: ("Fichier trop volumineux", "Le fichier envoyé dépasse la taille autorisée."),
    500: ("Erreur interne", "Une erreur inattendue est survenue ; elle a été journalisée."),
    503: (
        "Service indisponible",
        "La base de données ne répond pas. Réessayez dans quelques instants ; si le problème "
        "persiste, prévenez l'administrateur.",
    ),
}


def _page(status: int) -> ResponseReturnValue:
    title, message = MESSAGES.get(status, MESSAGES[500])
    return render_template("errors/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return _page(exc.code or 500)

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError) -> ResponseReturnValue:
        log.error("base de données indisponible : %s", exc.orig)
        return _page(503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("erreur non gérée")
        return _page(500)
