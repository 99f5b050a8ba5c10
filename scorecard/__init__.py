"""The scorecard core (pure): periods, indicator values, targets, statuses, trends, roll-ups.

Imports only the standard library, numpy and pandas; reads no clock and no configuration.
"""
