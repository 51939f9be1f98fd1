"""The analysis core: arrays and dataclasses in, frozen results out. No I/O here."""
