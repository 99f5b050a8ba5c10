"""The demo organisation, built from the real statistics of one of 25 communes of Occitanie."""

from services.demo.build import DemoSummary, build_demo, demo_slug

__all__ = ["DemoSummary", "build_demo", "demo_slug"]
