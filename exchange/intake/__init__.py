"""The providers' side: early signals in (checked, routed, pseudonymised, sealed, linked into
cases and passed on to the municipality), and what a provider may read back of its own.

``coalescer`` gives each request or batch its transaction (concurrent requests share one, a
group per client in a savepoint of its own); ``service`` does the work inside it. The signal
records themselves, their schemas and words are in ``exchange.signals``.
"""
