"""``make bench``: intake throughput of the broker against a bare FastAPI baseline.

Every server runs in its own uvicorn process (one worker) on a free loopback port; this
process is the load generator. See BENCHMARKS.md for what is measured and the figures.
"""
