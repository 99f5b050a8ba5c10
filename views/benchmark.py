"""Benchmarking between organisations on standard indicators."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("benchmark", __name__, url_prefix="/comparaison")
