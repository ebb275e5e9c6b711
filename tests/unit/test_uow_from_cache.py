"""A unit of work without a session (``UnitOfWork.from_cache``): the API's first try at a
sender's request, from memory alone."""

from __future__ import annotations

import pytest

from meshkeys.services.context import RequestInfo
from meshkeys.services.uow import NeedsDatabase, UnitOfWork


def test_it_has_no_session_and_says_so_the_moment_one_is_needed():
    uow = UnitOfWork.from_cache(7, request=RequestInfo(client_ip="127.0.0.1"))
    assert uow.cached and uow.cache_generation == 7
    assert uow.request.client_ip == "127.0.0.1"
    uow.act_as(None)  # naming the actor needs no database
    with pytest.raises(NeedsDatabase):
        uow.session  # noqa: B018 - the property is what is tested
    with pytest.raises(NeedsDatabase):
        uow.read_only()
    with uow:  # closing it is a no-op
        pass
