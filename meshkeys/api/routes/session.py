"""Browser sign-in, sign-out and first-run setup routes (cookies).

Placeholder: the UI engineer fills this router; the API factory includes it unconditionally.
"""

from fastapi import APIRouter

router = APIRouter()
