"""Durable storage: the database (SQLite by default, PostgreSQL as an option) and the
content-addressed raw files. Everything in the database can be rebuilt from the raw
files; the raw files are never modified."""
