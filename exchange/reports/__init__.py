"""Reports for a municipality: the DDAS delivery to CBS and the aggregate overview."""
