"""The webhook contract: what a provider sends to subscribe and what it reads back."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from exchange.identity.schemas import Strict

# Longer URLs are refused at registration (exchange.webhooks.service.check_url).
MAX_URL_LENGTH = 2048


class WebhookIn(Strict):
    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="An https URL that accepts POST; no user name or password in it.",
        examples=["https://hooks.example.org/signal-exchange"],
    )


class WebhookOut(BaseModel):
    url: str
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(
        description=(
            "The signing secret (Standard Webhooks, whsec_...). Shown only in this answer: "
            "keep it; rotate it with POST /v1/webhook/secret if it is lost."
        )
    )


class DeliveryOut(BaseModel):
    id: uuid.UUID = Field(description="Also the webhook-id header of each attempt.")
    type: str
    state: str = Field(description="pending | delivered | failed")
    attempts: int
    last_status: int | None = Field(description="The HTTP status of the last attempt, if any.")
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    next_attempt_at: dt.datetime | None = Field(
        description="When a pending delivery is tried next."
    )


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
