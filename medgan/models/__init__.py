"""Network definitions, one file per family, with plain typed constructor arguments."""
