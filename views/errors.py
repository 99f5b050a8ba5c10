"""Error pages in French (JSON under /api); a database that does not answer gives a 503.

A :class:`~scorecard.errors.UserError` a view does not catch itself becomes, here and only here,
the page that lists its located problems (or their JSON under /api) with its status: 400, or 409
for a write that met a newer version. Nothing was written: the request's write session rolled
back when the error left it.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from scorecard.errors import UserError

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Requête invalide", "La requête envoyée n'a pas pu être comprise."),
    401: ("Connexion requise", "Connectez-vous pour accéder à cette page."),
    403: ("Accès refusé", "Vos droits ne permettent pas d'accéder à cette page ou de faire cette action."),
    404: ("Page introuvable", "L'adresse demandée n'existe pas ou plus."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible sur cette adresse."),
    409: ("Modification concurrente", "Cette fiche a été modifiée entre-temps par une autre personne."),
    413: ("Fichier trop volumineux", "Le fichier envoyé dépasse la taille autorisée."),
    429: ("Trop de tentatives", "Trop de tentatives : réessayez dans quelques minutes."),
    500: ("Erreur interne", "Une erreur inattendue est survenue ; elle a été journalisée."),
    503: (
        "Service indisponible",
        "La base de données ne répond pas. Réessayez dans quelques instants ; si le problème "
        "persiste, prévenez l'administrateur.",
    ),
}


def render_error(status: int, title: str | None = None, message: str | None = None) -> ResponseReturnValue:
    default_title, default_message = MESSAGES.get(status, MESSAGES[500])
    title, message = title or default_title, message or default_message
    if request.blueprint == "api":
        return jsonify(error=message, status=status), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def render_user_error(exc: UserError) -> ResponseReturnValue:
    """The refusal of ``exc``: its problems, where each is, and the way back to the form."""
    problems = [{"message": p.message, "where": p.where} for p in exc.problems]
    if request.path.startswith("/api/"):
        return jsonify(error=str(exc), problems=problems, status=exc.status), exc.status
    title = MESSAGES[409][0] if exc.status == 409 else "Saisie refusée"
    referrer = request.referrer or ""
    back = referrer if urlsplit(referrer).netloc == request.host else None
    return (
        render_template(
            "errors/user_error.html", status=exc.status, title=title, problems=problems, back=back
        ),
        exc.status,
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(UserError)
    def user_error(exc: UserError) -> ResponseReturnValue:
        return render_user_error(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return render_error(exc.code or 500)

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError) -> ResponseReturnValue:
        log.error("base de données indisponible : %s", exc.orig)
        return render_error(503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("erreur non gérée")
        return render_error(500)
