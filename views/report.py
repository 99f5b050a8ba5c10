"""The ABS report (diagnostic and thematic analyses): page, PDF, Excel annex, analysis texts."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("report", __name__, url_prefix="/abs")
