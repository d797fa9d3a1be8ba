"""Every response the suite sees, checked against the broker's OpenAPI document.

``conftest.py`` wraps ``TestClient.send``: each response to an operation of ``/openapi.json``
must have a documented status (or fall under ``4XX`` / ``default``), a documented media
type, and a body that Schemathesis (an independent reading of OpenAPI 3.1 and JSON Schema)
finds valid against the schema documented for it. A response that does not is a failure
of the test that made the request, with the operation and what is wrong.

Paths outside the document (the pages, ``/healthz``, ``/metrics``, a path that is not
ours) are not checked here; the pages have their own tests.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from fastapi import FastAPI
from schemathesis.specs.openapi.schemas import OpenApiSchema


class NotAsDocumented(AssertionError):
    """A response that the OpenAPI document does not describe."""


class Conformance:
    def __init__(self) -> None:
        # One document per issuer: the routes are the same in every app the suite builds,
        # and building the document costs more than most tests.
        self._schemas: dict[str, OpenApiSchema] = {}
        self.checked = 0

    def schema_of(self, app: Any) -> OpenApiSchema | None:
        broker = getattr(getattr(app, "state", None), "broker", None)
        if not isinstance(app, FastAPI) or broker is None:
            return None
        issuer = broker.settings.issuer
        schema = self._schemas.get(issuer)
        if schema is None:
            schema = schemathesis.openapi.from_dict(app.openapi())
            self._schemas[issuer] = schema
        return schema

    def check(self, app: Any, request: httpx.Request, response: httpx.Response) -> None:
        schema = self.schema_of(app)
        if schema is None:
            return
        operation = schema.find_operation_by_path(request.method, request.url.path)
        if operation is None:
            return
        self.checked += 1
        label = f"{request.method} {request.url.path} -> {response.status_code}"
        definition = operation.responses.find_by_status_code(response.status_code)
        if definition is None:
            raise NotAsDocumented(f"{label}: the status is not documented for {operation.label}")
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        documented = set(definition.definition.get("content", {}))
        if response.content and not documented:
            raise NotAsDocumented(f"{label}: has a body, the document says it has none")
        if response.content and media_type not in documented:
            raise NotAsDocumented(
                f"{label}: sent as {media_type or 'nothing'}, documented as {sorted(documented)}"
            )
        try:
            operation.validate_response(response)
        except AssertionError as failure:
            raise NotAsDocumented(f"{label}: {failure}") from None
