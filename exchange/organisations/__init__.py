"""Organisations: providers that send signals, recipients that act on them, overseers."""
