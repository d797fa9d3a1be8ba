"""The consent ledger: consents and their event history, objections (AVG art. 21)."""
