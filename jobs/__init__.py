"""Scheduled jobs: one declarative list (``jobs.registry``), a guarded runner (``jobs.runner``) and
the scheduler process (``jobs.scheduler``, started by ``pilotis scheduler``)."""
