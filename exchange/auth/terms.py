"""The words of client authentication: how a client proves itself at the token endpoint."""

from __future__ import annotations

# RFC 7523 §2.2 / OpenID Connect Core §9: a JWT signed with a key the client registered.
PRIVATE_KEY_JWT = "private_key_jwt"
# RFC 6749 §2.3.1: the broker-issued secret, by HTTP Basic (preferred) or in the form.
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
