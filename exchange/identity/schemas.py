"""How a person is identified in requests: by BSN, or by name and birth date."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from exchange.fields import BirthDate, no_nul_in
from exchange.identity.bsn import is_valid_bsn


class Strict(BaseModel):
    """A request body. Unknown fields are refused by name: a misspelt field is an error, not
    a silent gap. No text in any field holds a NUL: PostgreSQL could not store it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # Every field, of every body to come: a text field cannot be added without it.
        return no_nul_in(value)


class Person(Strict):
    """By BSN, or else by initials, surname and birth date."""

    # The BSN-or-name choice, as the OpenAPI document states it (``_identifiable`` decides).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["bsn"], "properties": {"bsn": {"type": "string"}}},
                {
                    "required": ["initials", "surname", "birth_date"],
                    "properties": {
                        "initials": {"type": "string", "minLength": 1},
                        "surname": {"type": "string", "minLength": 1},
                        "birth_date": {"type": "string"},
                    },
                },
            ]
        }
    )

    bsn: str | None = Field(
        default=None,
        json_schema_extra={"pattern": "^[0-9]{9}$", "description": "9 digits; the 11-check"},
    )
    initials: str | None = Field(default=None, max_length=20)
    surname_prefix: str | None = Field(default=None, max_length=20)
    surname: str | None = Field(default=None, max_length=200)
    birth_date: BirthDate | None = None

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
