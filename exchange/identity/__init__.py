"""Identities of people and households: checking, normalising, pseudonymising."""
