"""The broker's audit trail: entries appended to the verifiable log (``audit/``) in the same
transaction as the action they record, checkpoints, proofs and the privacy officer's API."""
