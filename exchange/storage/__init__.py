"""Schema migrations (Alembic). Models live with their domains; this is their history."""
