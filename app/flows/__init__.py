"""Processes that span features (ARCHITECTURE: one small flow module each; features never import flows)."""
