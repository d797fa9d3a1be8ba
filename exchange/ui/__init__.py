"""The web pages for people: case workers, neighbourhood teams and privacy officers (``/ui``)."""
