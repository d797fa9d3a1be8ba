"""Documenting what a route answers when it builds the answer itself.

Many answers are built from the caller's decision in the register (``dict[str, Any]``,
cut per field), so FastAPI cannot derive their schema from the return type, and checking
them against a model at run time would cost every request a second pass over the answer.
``answer`` names the model in the OpenAPI document only; the suite checks every answer it
sees against the document (``tests/openapi_conformance.py``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def answer(model: type[BaseModel], description: str, status: int = 200) -> dict[str, Any]:
    """Route keyword arguments: document ``model`` as the answer, validate nothing."""
    return {
        "response_model": None,
        "responses": {status: {"model": model, "description": description}},
    }
