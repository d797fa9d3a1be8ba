"""The verifiable audit log: an append-only RFC 9162 Merkle log with signed checkpoints.

This package never imports ``exchange``; an auditor can use it alone with only the broker's
public key:

- :mod:`audit.entry`: entries as RFC 8785 canonical JSON (the leaf bytes);
- :mod:`audit.merkle`: leaf and node hashes, the frontier, proofs from stored nodes, and
  the RFC 9162 verification of inclusion and consistency proofs;
- :mod:`audit.note`: checkpoints (C2SP tlog-checkpoint) as Ed25519 signed notes;
- :mod:`audit.export`: the JSON Lines export format;
- :mod:`audit.verify`: the offline verifier, also ``python -m audit verify``.
"""
