"""Clearinghouse: intake, triage, replay, coordination and sharing of AI vulnerability reports."""

__version__ = "0.1.0"
