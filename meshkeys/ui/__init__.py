"""The Reflex UI: thin states (state/), pages (pages/) and shared components (components/).

Every handler that reads or changes data resolves the actor from the HttpOnly session cookie
and calls a service; the services hold every rule.
"""
