"""List, generate and sign p50 against the project's key count, as a table and a plot.

    .venv/bin/python bench/scale.py                          # 1e3, 1e4, 1e5, 1e6 keys (SQLite)
    .venv/bin/python bench/scale.py --sizes 1000 10000 --repeat 15 --plot /tmp/scale.png

One SQLite database (the default install), one project per size seeded with real encrypted
keys (``operations.seed_keys``, one in ten revoked), all seeded before any is measured; then
each operation as a door runs it (one unit of work per call, through the services): the first
page of the list, generate, and sign (every active key among the newest 20), in ``--repeat``
rounds that take every size in turn, so the sizes share the database and the machine's moments
and differ only in the project's own key count. Each figure is the median of those calls in
this thread's CPU time (``time.thread_time``: the shared machine's waits are not counted). Prints a
Markdown table and writes the plot (matplotlib) to ``--plot`` (default docs/perf-scale.png).

Target (exit 1 on a miss): at the largest size every p50 within 1.3x of the smallest size's.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("MESHKEYS_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())

from meshkeys import migrations  # noqa: E402
from meshkeys.crypto.masterkey import get_keyring  # noqa: E402
from meshkeys.db import make_engine  # noqa: E402
from meshkeys.services import auth, key_commands, key_queries, operations, projects, signing  # noqa: E402
from meshkeys.services.context import Actor  # noqa: E402
from tests.helpers import call  # noqa: E402

RATIO = 1.3
OPERATIONS = ("list first page", "generate", "sign")


def cpu_ms(fn: Callable[[], object]) -> float:
    start = time.thread_time()
    fn()
    return (time.thread_time() - start) * 1000


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "perf-scale.png")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="meshkeys-scale-")
    url = f"sqlite:///{tmp}/scale.db"
    migrations.upgrade(url)
    engine = make_engine(url)
    user = call(auth.create_user, bind=engine, email="scale@example.com", password="scale-pass-1")
    actor = Actor(user_id=user.id, email=user.email)

    def run(fn: Callable[..., object], **kwargs: object) -> object:
        return call(fn, actor, bind=engine, **kwargs)

    # Every project is seeded first, then measured in the same database, in rounds that take
    # each size in turn: the sizes then differ only in the project's own key count (not in
    # the table's, nor in what else the machine was doing at the time).
    all_ops: dict[int, dict[str, Callable[[], object]]] = {}
    for size in args.sizes:
        project = run(projects.create_project, name=f"scale-{size}")
        pid = project.id  # type: ignore[attr-defined]
        call(
            operations.seed_keys,
            None,
            system=True,
            bind=engine,
            project_id=pid,
            count=size,
            created_by=actor.user_id,
            keyring=get_keyring(),
        )
        all_ops[size] = {
            "list first page": lambda pid=pid: run(key_queries.list_keys, project_id=pid),
            "generate": lambda pid=pid: run(key_commands.generate_key, project_id=pid, name="g"),
            "sign": lambda pid=pid: run(signing.sign_payload, project_id=pid, payload=b'{"a": 1}'),
        }
        print(f"seeded {size:>9,} keys (load {_load()})", flush=True)
    samples: dict[int, dict[str, list[float]]] = {
        size: {name: [] for name in OPERATIONS} for size in args.sizes
    }
    for fns in all_ops.values():  # warm caches and plans
        for fn in fns.values():
            fn()
    for _ in range(args.repeat):
        for size, fns in all_ops.items():
            for name, fn in fns.items():
                samples[size][name].append(cpu_ms(fn))
    table: dict[int, dict[str, float]] = {}
    for size in args.sizes:
        table[size] = {name: statistics.median(v) for name, v in samples[size].items()}
        cells = ", ".join(f"{n} {v:.2f} ms" for n, v in table[size].items())
        print(f"{size:>9,} keys: {cells}", flush=True)
    print(f"(measured in {args.repeat} rounds over every size; load {_load()})")
    engine.dispose()

    print()
    print("| keys | " + " | ".join(f"{n} p50 (ms CPU)" for n in OPERATIONS) + " |")
    print("|---:|" + "---:|" * len(OPERATIONS))
    for size, row in table.items():
        print(f"| {size:,} | " + " | ".join(f"{row[n]:.2f}" for n in OPERATIONS) + " |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    sizes = list(table)
    for name in OPERATIONS:
        ax.plot(sizes, [table[s][name] for s in sizes], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("keys in the project")
    ax.set_ylabel("p50, ms of CPU")
    ax.set_title("meshkeys on SQLite: p50 against project size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot)
    print(f"\nplot: {args.plot}")

    small, large = table[sizes[0]], table[sizes[-1]]
    missed = 0
    for name in OPERATIONS:
        ratio = large[name] / small[name]
        ok = ratio <= RATIO
        missed += not ok
        print(
            f"{'ok  ' if ok else 'MISS'} {name}: {sizes[-1]:,} / {sizes[0]:,} keys = {ratio:.2f} "
            f"(target <= {RATIO})"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
