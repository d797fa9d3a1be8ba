"""Keys and encryption at rest: the keyring and envelope encryption of identity fields."""
