"""The REST API: a FastAPI app mounted on the Reflex backend (``api_transformer=mount_api``).

Routes are thin doors onto ``meshkeys.services``: parse, call a service, shape the answer.
"""
