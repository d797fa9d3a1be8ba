"""Identity's words: the identifiers a person is known by.
Shared by the package's models and services and by the entry points, which need no table.
"""

from __future__ import annotations

BSN = "bsn"
"""The burgerservicenummer: one person, for life."""
NAME = "name"
"""The first initial, the surname with its prefix, and the birth date: a person, unless two
BSNs came with it (``exchange.identity.service``, rule 3)."""
KINDS = (BSN, NAME)
UNKNOWN = "unknown"
"""A row from before kinds were kept that no signal tells the kind of; it learns its kind
when a signal or a request links it."""
