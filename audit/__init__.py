"""The verifiable audit log: an append-only RFC 9162 Merkle log with signed checkpoints.

This package never imports ``exchange``; an auditor can use it alone with only the broker's
public key. (The log itself arrives with the audit issue; this package is its home.)
"""
