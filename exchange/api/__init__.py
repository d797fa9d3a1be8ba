"""The HTTP API: application factory, error rendering, middleware."""
