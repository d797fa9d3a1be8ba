"""Cases: the signals about one household, linked, for the municipality to act on."""
