"""Click-to-visible latency of the keys page in Chromium, on a project of 100 and of 100,000 keys.

    .venv/bin/python bench/ui_latency.py                    # 100 and 100,000 keys, 15 rounds
    .venv/bin/python bench/ui_latency.py --sizes 100 1000000 --rounds 30

Starts the real app as users do (``reflex run --env prod``, via tests/e2e/apprunner.py) on a fresh
SQLite database, seeds real encrypted keys with ``meshkeys.services.operations.seed_keys`` (and
prints its rate), signs in through the login form, then for each project repeats: generate a key,
revoke it, reactivate it, next page, previous page. Each time is measured inside the page: from the
button's click to the DOM change that shows the outcome (a MutationObserver, no polling), so it
covers the websocket round trip, the service call and React's render. It also counts the bytes of
the websocket frames the browser receives per action (Reflex sends the changed vars: one page of
50 rows). Prints medians, the load average, and MISS (exit 1) for an action over 40 ms or a large
project more than 1.3x slower than the small one; tests never assert times.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from meshkeys.crypto.masterkey import get_keyring  # noqa: E402
from meshkeys.services import auth, operations, projects  # noqa: E402
from tests.e2e.apprunner import run_app, wait_for_hydration  # noqa: E402
from tests.helpers import (  # noqa: E402
    call,
    reset_caches,  # noqa: E402
)

EMAIL = "bench@example.com"
PASSWORD = "correct-horse-battery"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Issue 12, target 5: p50 click-to-visible, and the largest project against the smallest.
TARGET_MS = 40.0
SIZE_RATIO = 1.3

# Every websocket message's arrival time in the page, to split click-to-visible into the round
# trip (click to the first message after it: websocket, server, service) and the render (that
# message to the DOM change: Reflex applying the delta and React rendering it).
FRAME_CLOCK = """
(() => {
  const Native = window.WebSocket;
  window.__frames = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", () => window.__frames.push(performance.now()));
    }
  };
})();
"""

# Click a button, then wait (MutationObserver) until `cond` holds; returns milliseconds, total
# and to the first websocket message after the click.
TIMED_CLICK = """
async ([button, body, arg]) => {
  const done = new Function("arg", body);
  const seen = window.__frames.length;
  const t0 = performance.now();
  button.click();
  if (!done(arg)) {
    await new Promise((resolve) => {
      const observer = new MutationObserver(() => {
        if (done(arg)) { observer.disconnect(); resolve(); }
      });
      observer.observe(document.body, {subtree: true, childList: true, characterData: true,
                                       attributes: true});
    });
  }
  const t1 = performance.now();
  const first = window.__frames.length > seen ? window.__frames[seen] - t0 : t1 - t0;
  return [t1 - t0, first];
}
"""
SECRET_SHOWN = (
    "const s = document.getElementById('shown-secret');"
    " return !!s && s.textContent.startsWith('whsec_');"
)
FIRST_ROW_STATUS = (
    "const b = document.querySelector('tbody tr [aria-label^=\"status \"]');"
    " return !!b && b.textContent === arg;"
)
FIRST_ROW_CHANGED = (
    "const h = document.querySelector('tbody tr th'); return !!h && h.textContent !== arg;"
)


class FrameMeter:
    """Bytes of websocket frames received by the page."""

    def __init__(self, page: Page) -> None:
        self.received = 0
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framereceived", self._count)

    def _count(self, payload) -> None:
        self.received += len(payload.encode() if isinstance(payload, str) else payload)


def seed(sizes: list[int]) -> dict[int, uuid.UUID]:
    user = call(auth.create_user, email=EMAIL, password=PASSWORD)
    actor = auth.actor_of(call(auth.find_user, email=user.email))
    out = {}
    for size in sizes:
        project = call(projects.create_project, actor, name=f"bench {size:,} keys")
        started = time.perf_counter()
        call(
            operations.seed_keys,
            system=True,
            project_id=project.id,
            count=size,
            created_by=actor.user_id,
            keyring=get_keyring(),
        )
        took = time.perf_counter() - started
        print(f"seed_keys: {size:,} keys in {took:.1f} s ({size / took:,.0f} keys/s)", flush=True)
        out[size] = project.id
    return out


def timed(page: Page, button, body: str, arg: str = "") -> tuple[float, float]:
    total, first_frame = page.evaluate(TIMED_CLICK, [button.element_handle(), body, arg])
    return total, first_frame


def first_name(page: Page) -> str:
    return page.get_by_role("rowheader").first.inner_text()


def sign_in(page: Page) -> None:
    page.goto("/login")
    wait_for_hydration(page)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/projects/**")


ACTIONS = ("generate", "revoke", "reactivate", "next page", "previous page")


def open_keys(page: Page, project_id: uuid.UUID | str) -> None:
    page.goto(f"/projects/{project_id}/keys")
    wait_for_hydration(page)
    page.get_by_role("rowheader").first.wait_for()


def close_secret(page: Page) -> None:
    """Close the one-time secret dialog: it asks whether the secret was copied (before issue 9
    it had a Done button: bench/ui_ab.py drives that version too)."""
    done = page.get_by_role("button", name="Done")
    if done.count():
        done.click()
    else:
        page.get_by_role("button", name="Close", exact=True).click()
        page.get_by_role("button", name="Close anyway").click()
    page.get_by_role("dialog").wait_for(state="detached")


def one_round(page: Page, meter: FrameMeter, n: int) -> dict[str, tuple[float, float, int]]:
    """Generate a key, revoke it, reactivate it, next page, previous page: per action, the
    milliseconds to visible and to the first websocket message, and the bytes received."""
    out: dict[str, tuple[float, float, int]] = {}

    def measure(name: str, button, body: str, arg: str = "") -> None:
        before = meter.received
        total, first_frame = timed(page, button, body, arg)
        page.wait_for_timeout(150)  # the rest of the frames of this action (toasts...)
        out[name] = (total, first_frame, meter.received - before)

    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill(f"bench-{n:03d}")
    measure("generate", page.get_by_role("button", name="Generate", exact=True), SECRET_SHOWN)
    close_secret(page)

    row = page.get_by_role("row", name=f"bench-{n:03d}")
    row.get_by_role("button", name="Revoke").click()
    measure("revoke", page.get_by_role("button", name="Revoke key"), FIRST_ROW_STATUS, "revoked")
    row.get_by_role("button", name="Reactivate").click()
    measure(
        "reactivate", page.get_by_role("button", name="Reactivate key"), FIRST_ROW_STATUS, "active"
    )
    page.get_by_role("dialog").wait_for(state="detached")

    first = first_name(page)
    measure("next page", page.get_by_role("button", name="Next"), FIRST_ROW_CHANGED, first)
    second = first_name(page)
    measure("previous page", page.get_by_role("button", name="Previous"), FIRST_ROW_CHANGED, second)
    return out


def bench_project(page: Page, meter: FrameMeter, project_id: uuid.UUID, rounds: int) -> dict:
    """Medians over ``rounds`` rounds (after one warm-up round): per action, (ms to visible,
    bytes received, ms to the first websocket message)."""
    open_keys(page, project_id)
    one_round(page, meter, 0)  # warm-up
    measured = [one_round(page, meter, n) for n in range(1, rounds + 1)]
    return {
        k: (
            statistics.median(r[k][0] for r in measured),
            statistics.median(r[k][2] for r in measured),
            statistics.median(r[k][1] for r in measured),
        )
        for k in ACTIONS
    }


def profiler(pid: int, out: str) -> subprocess.Popen:
    """py-spy (PyPI, dev) over the app and its workers, idle samples included, until SIGINT."""
    root = Path(__file__).resolve().parent.parent
    spy = subprocess.Popen(
        [str(root / ".venv/bin/py-spy"), "record", "--subprocesses", "--idle", "-r", "500"]
        + ["--format", "raw", "-o", out, "--pid", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # attached before the first click
    return spy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 100_000])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--profile", metavar="FILE", help="py-spy the app's processes while measuring (raw)"
    )
    args = parser.parse_args()

    print(f"load average {Path('/proc/loadavg').read_text().split()[0]} (1 min) at start")
    with tempfile.TemporaryDirectory(prefix="meshkeys-ui-bench-") as tmp, run_app(Path(tmp)) as app:
        print(f"app up on {app.url} in {app.startup_seconds:.1f} s", flush=True)
        os.environ["MESHKEYS_DATABASE_URL"] = app.database_url
        os.environ["MESHKEYS_MASTER_KEY"] = app.master_key
        reset_caches()
        project_ids = seed(args.sizes)
        results = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=app.url)
            context.add_init_script(FRAME_CLOCK)
            page = context.new_page()
            meter = FrameMeter(page)
            sign_in(page)
            spy = profiler(app.process.pid, args.profile) if args.profile else None
            for size in args.sizes:
                results[size] = bench_project(page, meter, project_ids[size], args.rounds)
                print(f"measured {size:,} keys", flush=True)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
                spy.wait(timeout=60)
            browser.close()

    actions = list(next(iter(results.values())))
    header = f"{'action':<16}" + "".join(f"{f'{s:,} keys':>26}" for s in args.sizes)
    print(f"\nmedian click-to-visible ms (websocket bytes received), {args.rounds} rounds")
    print(header)
    for action in actions:
        cells = "".join(
            f"{results[s][action][0]:>14.1f} ms ({results[s][action][1] / 1024:>5.1f} KiB)"
            for s in args.sizes
        )
        print(f"{action:<16}{cells}")
    print("\nof which: click to the first websocket message (round trip) + the rest (render), ms")
    print(header)
    for action in actions:
        split = [(results[s][action][2], results[s][action][0]) for s in args.sizes]
        cells = "".join(f"{trip:>14.1f} + {total - trip:>6.1f}    " for trip, total in split)
        print(f"{action:<16}{cells}")
    print(f"load average {Path('/proc/loadavg').read_text().split()[0]} (1 min)")
    sys.exit(0 if verdict(results, args.sizes) else 1)


def verdict(results: dict[int, dict], sizes: list[int]) -> bool:
    """Issue 12, target 5: every action's median at most TARGET_MS on every size, and the
    largest size within SIZE_RATIO of the smallest. Prints MISS for each miss."""
    ok = True
    small, large = min(sizes), max(sizes)
    for action in results[small]:
        for size in sizes:
            ms = results[size][action][0]
            if ms > TARGET_MS:
                ok = False
                print(f"MISS {action} on {size:,} keys: {ms:.1f} ms > {TARGET_MS} ms")
        ratio = results[large][action][0] / results[small][action][0]
        if large != small and ratio > SIZE_RATIO:
            ok = False
            print(f"MISS {action}: {large:,} keys {ratio:.2f}x of {small:,} (> {SIZE_RATIO}x)")
    print("all targets met" if ok else "targets missed")
    return ok


if __name__ == "__main__":
    main()
