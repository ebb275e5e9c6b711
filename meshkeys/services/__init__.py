"""The domain layer: every rule and every commit. UI, API and CLI are thin doors onto it.

Nothing here imports reflex or fastapi (a unit test keeps it so).
"""
