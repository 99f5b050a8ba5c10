"""Use cases: load from the database, call a pure core, persist. They flush; they never commit."""
