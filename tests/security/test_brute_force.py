"""Guessing passwords and API tokens in bursts, on real PostgreSQL with committed transactions.

The throttle's check and its record are one transaction under a lock on the (account, client)
pair: however many guesses race, at most the limit are ever checked, and while the pair is over
the limit the right password is refused too. Another address is never locked out.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlmodel import select

from meshkeys.models import AuditEvent, LoginFailure
from meshkeys.services import auth
from meshkeys.services.context import RequestInfo
from meshkeys.services.errors import RateLimited, Unauthenticated
from tests.helpers import PASSWORD, make_user, units

BURST = 50
ATTACKER = RequestInfo(client_ip="127.0.0.1", user_agent="attacker")
VICTIM = RequestInfo(client_ip="127.0.0.2", user_agent="victim")


def _burst(attempts: list[Callable[[], Any]]) -> Counter[str]:
    """Run every attempt at once (a barrier releases them together); count the outcomes."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(attempts))

    def run(attempt: Callable[[], Any]) -> None:
        start.wait()
        try:
            attempt()
            outcome = "accepted"
        except Unauthenticated:
            outcome = "checked and wrong"
        except RateLimited:
            outcome = "refused"
        except BaseException as exc:  # a deadlock, a pool timeout...: the attack broke something
            outcome = f"error {exc!r}"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def _sign_in(engine, request: RequestInfo, password: str) -> Callable[[], Any]:
    def attempt() -> Any:
        with units(engine)(request=request) as unit:
            return auth.authenticate(unit, email="victim@example.com", password=password)

    return attempt


def test_a_burst_of_wrong_passwords_gets_at_most_the_limit_checked(committed_db):
    make_user(units(committed_db), "victim@example.com")
    wrong = [_sign_in(committed_db, ATTACKER, f"wrong-guess-{i}") for i in range(BURST)]
    assert _burst(wrong) == {
        "checked and wrong": auth.MAX_FAILURES_PER_ACCOUNT,
        "refused": BURST - auth.MAX_FAILURES_PER_ACCOUNT,
    }
    # Over the limit now: a second burst holding the right password gets nothing checked.
    mixed = [_sign_in(committed_db, ATTACKER, PASSWORD) for _ in range(5)] + wrong[:15]
    assert _burst(mixed) == {"refused": 20}
    with units(committed_db)(system=True) as unit:
        failures = unit.session.exec(select(LoginFailure)).all()
        failed_events = unit.session.exec(
            select(AuditEvent).where(AuditEvent.action == "login.failed")
        ).all()
    assert len(failures) == len(failed_events) == auth.MAX_FAILURES_PER_ACCOUNT
    # The victim, from their own address, signs in all the same.
    assert _sign_in(committed_db, VICTIM, PASSWORD)().email == "victim@example.com"


def test_a_burst_of_guessed_api_tokens_gets_at_most_the_limit_looked_up(committed_db):
    victim = make_user(units(committed_db), "victim@example.com")
    with units(committed_db)(victim) as unit:
        good = auth.create_api_token(unit, name="ci").token
    guesses = [good[:7] + f"{i:0>40}" for i in range(BURST)]

    def resolve(token: str, request: RequestInfo) -> Callable[[], Any]:
        def attempt() -> Any:
            with units(committed_db)(request=request) as unit:
                return auth.actor_for_api_token(unit, token=token)

        return attempt

    assert _burst([resolve(t, ATTACKER) for t in guesses]) == {
        "checked and wrong": auth.MAX_TOKEN_FAILURES,
        "refused": BURST - auth.MAX_TOKEN_FAILURES,
    }
    assert _burst([resolve(good, ATTACKER) for _ in range(5)]) == {"refused": 5}
    assert resolve(good, VICTIM)().user_id == victim.user_id


def test_a_valid_token_is_checked_without_waiting_for_the_throttles_lock(committed_db):
    """A sender's concurrent requests with one valid token must not queue on the throttle's
    lock (it guards the check and the record of a failure, and a valid token records
    nothing). Another transaction holds that lock: the valid token still resolves, while a
    wrong guess of the same pair waits for it (its lock_timeout ends the wait)."""
    import sqlalchemy as sa

    owner = make_user(units(committed_db), "sender@example.com")
    with units(committed_db)(owner) as unit:
        good = auth.create_api_token(unit, name="sender").token
    name = f"throttle {auth._TOKEN_THROTTLE_KEY}{good[:7]} from {ATTACKER.client_ip}"
    with committed_db.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})
        with units(committed_db)(request=ATTACKER) as unit:
            unit.session.execute(sa.text("SET lock_timeout = '2s'"))
            unit.commit()
            assert auth.actor_for_api_token(unit, token=good).user_id == owner.user_id
        with units(committed_db)(request=ATTACKER) as unit:
            unit.session.execute(sa.text("SET lock_timeout = '500ms'"))
            unit.commit()
            try:
                auth.actor_for_api_token(unit, token=good[:7] + "0" * 40)
            except Unauthenticated:
                raise AssertionError("a failing guess was checked without the lock") from None
            except Exception as exc:  # noqa: BLE001 - the lock wait ended by lock_timeout
                assert "lock" in str(exc).lower(), exc
        holder.rollback()
