"""Watching a live deployment: alert rules, input drift and the live canary."""
