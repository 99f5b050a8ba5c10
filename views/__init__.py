"""Flask blueprints, one per area: the only package that knows HTTP."""
