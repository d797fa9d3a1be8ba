"""Policy engine and policy documents (the register of processing).

This package never imports ``exchange``: the rules are data that a privacy officer can read,
and the engine is a pure function over them.
"""
