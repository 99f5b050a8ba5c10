"""The budget reallocation model (pure)."""
