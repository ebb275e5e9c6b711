"""Reflex states: thin doors onto meshkeys.services."""
