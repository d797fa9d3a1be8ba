"""HTML to PDF with WeasyPrint: the one helper for every printable letter (the access letter
in ``rights/letter.py``, the outreach letter in ``outreach/``).

Nothing is fetched while rendering: a letter holds all it needs (styles inside, no images
from outside), so a PDF made on the broker connects nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass


def html_to_pdf(html: str) -> bytes:
    """The document as a PDF, from one standalone HTML document."""
    # WeasyPrint has no type hints of its own.
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf: bytes = HTML(string=html, url_fetcher=_no_fetching).write_pdf()
    return pdf


def htmls_to_pdf(documents: list[str]) -> bytes:
    """Several standalone HTML documents as one PDF, each starting on a page of its own: a
    stack of letters printed at once."""
    from weasyprint import HTML

    rendered = [HTML(string=html, url_fetcher=_no_fetching).render() for html in documents]
    pages = [page for document in rendered for page in document.pages]
    pdf: bytes = rendered[0].copy(pages).write_pdf()
    return pdf


@dataclass(frozen=True)
class LetterFile:
    """The letter as a file to hand over: its bytes, their media type, a file name."""

    content: bytes
    media_type: str
    filename: str

    @property
    def headers(self) -> dict[str, str]:
        """An attachment, never cached, never shown inside the app's pages."""
        return {
            "Content-Disposition": f'attachment; filename="{self.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        }


def _no_fetching(url: str, *args: object, **kwargs: object) -> dict[str, object]:
    raise ValueError(f"the letter fetches nothing: {url[:40]}")
