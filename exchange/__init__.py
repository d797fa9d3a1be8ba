"""The signal exchange broker: intake, pseudonymisation, routing, cases, API and CLI."""
