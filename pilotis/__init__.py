"""Pilotis: steering local social policy, from the ABS to the scorecard and budget arbitration.

The shell: :func:`create_app` wires settings, database, blueprints and commands.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pilotis.errors import PilotisError
from pilotis.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application.

    ``config`` overrides settings (``DATABASE_URL``, ``SECRET_KEY``, ``INSTANCE_PATH``,
    ``ENV``) and any Flask key (``TESTING``…); everything else comes from the environment
    (:class:`~pilotis.settings.Settings`). Creating the app never touches the database.
    """
    from flask import Flask  # imported here: `pilotis optimize` starts without Flask

    overrides = dict(config or {})
    settings = Settings.from_env(overrides=overrides)
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PILOTIS_SETTINGS=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        BABEL_DEFAULT_LOCALE="fr",
        BABEL_DEFAULT_TIMEZONE="Europe/Paris",
        BABEL_TRANSLATION_DIRECTORIES=str(PROJECT_ROOT / "translations"),
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
    )
    # the public surveys' anti-abuse settings (views/participation.py), from the environment
    for key, kind in (("PILOTIS_SURVEY_MIN_SECONDS", float), ("PILOTIS_SURVEY_MAX_PER_HOUR", int)):
        raw = os.environ.get(key)
        if raw:
            try:
                app.config[key] = kind(raw)
            except ValueError:
                raise PilotisError(f"{key} vaut « {raw} » : un nombre est attendu.") from None
    app.config.update({k: v for k, v in overrides.items() if k.isupper()})

    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # the client's address (sign-in limits) and scheme (Secure cookies, HSTS, links) as the
        # proxies saw them; the Host header is the proxy's to pass on (or PILOTIS_PUBLIC_URL)
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    from pilotis import auth, formatting, web

    web.init_app(app, settings.database_url)
    auth.init_app(app)
    formatting.init_app(app)

    from views import (
        action_plans,
        admin,
        api,
        benchmark,
        catalogue,
        collection,
        costs,
        dashboards,
        errors,
        home,
        imports,
        journal,
        model,
        needs,
        observatory,
        offer,
        participation,
        report,
        reviews,
        scenarios,
        scorecard,
        setup,
        steering,
        strategy,
        surveys,
    )
    from views import auth as auth_views
    from views import help as help_views

    for blueprint in (
        home.bp,
        auth_views.bp,
        admin.bp,
        journal.bp,
        offer.bp,
        scorecard.bp,
        steering.bp,
        strategy.bp,
        action_plans.bp,
        dashboards.bp,
        needs.bp,
        observatory.bp,
        reviews.bp,
        collection.bp,
        costs.bp,
        report.bp,
        benchmark.bp,
        scenarios.bp,
        surveys.bp,
        participation.bp,
        imports.bp,
        api.bp,
        setup.bp,
        catalogue.bp,
        model.bp,
        help_views.bp,
    ):
        app.register_blueprint(blueprint)
    errors.init_app(app)
    from views import tasks as task_views

    task_views.init_app(app)

    from pilotis.cli import register_commands

    register_commands(app)
    return app
