"""File downloads."""

from __future__ import annotations

from flask import Response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(content: bytes, filename: str) -> Response:
    """An Excel workbook sent as an attachment named ``filename``."""
    return Response(
        content, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
