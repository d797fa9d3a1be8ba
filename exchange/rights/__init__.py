"""Data-subject rights: erasure by crypto-shredding, restriction, notices to recipients."""
