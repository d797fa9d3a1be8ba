"""Authentication of machine clients: OAuth 2.0 client credentials, JWT access tokens."""
