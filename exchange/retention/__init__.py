"""Retention: when data expires under the register, and the purge that removes it."""
