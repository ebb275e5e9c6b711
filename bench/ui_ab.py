"""The keys page of two versions of meshkeys side by side, clicks interleaved round by round.

    git worktree add /tmp/before 2247167        # the version to compare with
    .venv/bin/python bench/ui_ab.py --before /tmp/before
    .venv/bin/python bench/ui_ab.py --before /tmp/before --size 100000 --rounds 20

``bench/ui_latency.py`` run twice, once per version, compares runs minutes apart, and on this
shared host a few minutes can move every figure by 30%. Here both apps run at once (each from
its own tree, ``reflex run --env prod`` through that tree's tests/e2e/apprunner.py, on its own
fresh SQLite database seeded with ``--size`` real keys by that tree's own services), and one
Chromium alternates between them: round n on one, round n on the other, the order swapped every
round. Each round is ui_latency's: generate, revoke, reactivate, next page, previous page, each
timed from the click to the DOM change (and to the first websocket message after the click).

Prints per action the median of each version, the median of the per-round differences (after
minus before) and in how many rounds the after was faster; ``MISS`` (exit 1) for an action whose
after median is above its before median ("no action slower than before", issue 9).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.ui_latency import (  # noqa: E402
    ACTIONS,
    CHROMIUM_ARGS,
    EMAIL,
    FRAME_CLOCK,
    PASSWORD,
    FrameMeter,
    one_round,
    open_keys,
    sign_in,
)

# Run in each tree with that tree's code: start its app, seed one project, say where, then
# wait until stdin closes. Uses only what both the old and the new trees have.
SERVE = """
import json, os, sys, tempfile
from pathlib import Path
sys.path.insert(0, os.getcwd())
from meshkeys.crypto.masterkey import get_keyring
from meshkeys.services import auth, operations, projects
from tests.e2e.apprunner import run_app
from tests.helpers import call, reset_caches

email, password, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
with tempfile.TemporaryDirectory(prefix="meshkeys-ui-ab-") as tmp, run_app(Path(tmp)) as app:
    os.environ["MESHKEYS_DATABASE_URL"] = app.database_url
    os.environ["MESHKEYS_MASTER_KEY"] = app.master_key
    reset_caches()
    user = call(auth.create_user, email=email, password=password)
    actor = auth.actor_of(call(auth.find_user, email=user.email))
    project = call(projects.create_project, actor, name=f"bench {size:,} keys")
    call(operations.seed_keys, system=True, project_id=project.id, count=size,
         created_by=actor.user_id, keyring=get_keyring())
    print(json.dumps({"url": app.url, "project": str(project.id)}), flush=True)
    sys.stdin.read()
"""


def serve(tree: Path, size: int) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, EMAIL, PASSWORD, str(size)],
        cwd=tree,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MESHKEYS_")},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the app of {tree} did not start (exit {proc.wait()})")
    return proc, json.loads(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other version's tree")
    parser.add_argument("--after", type=Path, default=ROOT, help="default: this tree")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    print(f"load average {Path('/proc/loadavg').read_text().split()[0]} (1 min) at start")
    servers = {name: serve(tree, args.size) for name, tree in trees.items()}
    rounds: dict[str, list[dict]] = {name: [] for name in trees}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            pages = {}
            for name, (_, where) in servers.items():
                context = browser.new_context(base_url=where["url"])
                context.add_init_script(FRAME_CLOCK)
                page = context.new_page()
                pages[name] = (page, FrameMeter(page))
                sign_in(page)
                open_keys(page, where["project"])
                one_round(page, pages[name][1], 0)  # warm-up
            order = list(trees)
            for n in range(1, args.rounds + 1):
                for name in order:
                    page, meter = pages[name]
                    page.bring_to_front()
                    rounds[name].append(one_round(page, meter, n))
                order.reverse()
            browser.close()
    finally:
        for proc, _ in servers.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=120)
    return report(rounds, args)


def report(rounds: dict[str, list[dict]], args: argparse.Namespace) -> int:
    print(
        f"\n{args.size:,} keys, {args.rounds} interleaved rounds; before {args.before}, after "
        f"{args.after}\nmedian ms to visible (of which: to the first websocket message)"
    )
    print(f"{'action':<16}{'before':>18}{'after':>18}{'after - before':>17}{'after faster':>14}")
    missed = 0
    for action in ACTIONS:
        before = [r[action] for r in rounds["before"]]
        after = [r[action] for r in rounds["after"]]
        diffs = [a[0] - b[0] for a, b in zip(after, before, strict=True)]
        faster = sum(d < 0 for d in diffs)
        cells = [
            f"{statistics.median(x[0] for x in side):7.1f}"
            f" ({statistics.median(x[1] for x in side):5.1f})"
            for side in (before, after)
        ]
        slower = statistics.median(x[0] for x in after) > statistics.median(x[0] for x in before)
        missed += slower
        print(
            f"{action:<16}{cells[0]:>18}{cells[1]:>18}{statistics.median(diffs):>+14.1f} ms"
            f"{faster:>8} of {len(diffs)}{'  MISS' if slower else ''}"
        )
    print(f"load average {Path('/proc/loadavg').read_text().split()[0]} (1 min)")
    print("no action slower than before" if not missed else f"{missed} action(s) slower")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
