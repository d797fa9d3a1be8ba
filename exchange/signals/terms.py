"""The signals' words: what kind of arrears a signal is about. Shared by the package's
models, schemas and services and by the entry points (``/v1``, ``/ui``, the command
line), none of which need its tables for them.
"""

from __future__ import annotations

import enum


class SignalKind(enum.StrEnum):
    RENT = "rent"
    ENERGY = "energy"
    WATER = "water"
    HEALTH_INSURANCE = "health_insurance"
    MORTGAGE = "mortgage"
    TAX = "tax"
    BENEFITS_RECOVERY = "benefits_recovery"
    STUDENT_DEBT = "student_debt"
    OTHER = "other"
