"""QR rendering of pass text with segno: alphanumeric mode, error correction M, quiet zone kept."""

from __future__ import annotations

import io

import segno

#: docs/architecture.md §4: a pass must fit QR version 6 at error correction M.
MAX_VERSION = 6


def make_qr(text: str) -> segno.QRCode:
    """The QR code for ``text`` at error correction M (not boosted), mode chosen by segno
    (alphanumeric for pass text)."""
    return segno.make_qr(text, error="m", boost_error=False)


def qr_version(text: str) -> int:
    """The QR version (1..40) ``text`` needs at error correction M."""
    return int(make_qr(text).version)


def qr_png(text: str, scale_px: int = 8, border_modules: int = 4) -> bytes:
    """PNG bytes: ``scale_px`` pixels per module, ``border_modules`` quiet zone (4 per ISO 18004)."""
    buf = io.BytesIO()
    make_qr(text).save(buf, kind="png", scale=scale_px, border=border_modules)
    return buf.getvalue()


def qr_svg(text: str, border_modules: int = 4, dark: str = "#000", light: str = "#fff") -> str:
    """An inline SVG (no XML declaration), scalable, with the quiet zone kept."""
    buf = io.BytesIO()
    make_qr(text).save(
        buf, kind="svg", xmldecl=False, svgns=True, scale=1, border=border_modules,
        dark=dark, light=light, omitsize=True, unit=None,
    )
    return buf.getvalue().decode("utf-8")
