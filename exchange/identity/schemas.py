"""How a person is identified in requests: by BSN, or by name and birth date."""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from exchange.clock import today
from exchange.identity.bsn import is_valid_bsn

OLDEST_BIRTH_YEAR = 1900


class Strict(BaseModel):
    """Unknown fields are refused by name: a misspelt field is an error, not a silent gap."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def not_in_future(value: dt.date | None) -> dt.date | None:
    if value is not None and value > today():
        raise ValueError("lies in the future")
    return value


class Person(Strict):
    bsn: str | None = None
    initials: str | None = Field(default=None, max_length=20)
    surname_prefix: str | None = Field(default=None, max_length=20)
    surname: str | None = Field(default=None, max_length=200)
    birth_date: dt.date | None = None

    @field_validator("bsn")
    @classmethod
    def _bsn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not (len(value) == 9 and value.isascii() and value.isdigit()):
            raise ValueError("must be 9 digits")
        if not is_valid_bsn(value):
            raise ValueError("fails the 11-check")
        return value

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and value.year < OLDEST_BIRTH_YEAR:
            raise ValueError(f"must be after {OLDEST_BIRTH_YEAR}")
        return not_in_future(value)

    @model_validator(mode="after")
    def _identifiable(self) -> Self:
        if self.bsn is None:
            missing = [
                name for name in ("initials", "surname", "birth_date") if not getattr(self, name)
            ]
            if missing:
                raise ValueError(
                    "without a BSN the person needs initials, surname and birth_date "
                    f"(missing: {', '.join(missing)})"
                )
        return self
