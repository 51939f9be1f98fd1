# Makes firmware/tests the package `tests` under pytest, so its modules never clash with
# the same basenames under the top-level tests/ (tests/ingest/test_nmea.py and
# firmware/tests/test_nmea.py are both `test_nmea` otherwise). MicroPython ignores it:
# mpy_run.py imports the test modules by plain name from MICROPYPATH.
