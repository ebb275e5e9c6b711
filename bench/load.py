"""HTTP throughput of the real app on PostgreSQL with wrk: 1, 2 and 4 workers.

    .venv/bin/python bench/load.py                       # 8 s per endpoint, about 6 minutes
    .venv/bin/python bench/load.py --seconds 4 --workers 1 2

Starts a throwaway PostgreSQL 15 (tests/pgserver.py) and, for each worker count, the app as users
run it (``reflex run --env prod --single-port`` via tests/e2e/apprunner.py, ``GRANIAN_WORKERS=N``:
Reflex 0.10.1 runs its backend on Granian and reads the worker count there). One owner, one
project with 3 active keys, one API token, made through the services. Then, per endpoint, one
``wrk`` run (Debian's /usr/bin/wrk, ``bench/wrk/request.lua``: the body from a file, the token
in the header, the figures as JSON), ``--connections`` connections, ``--seconds`` seconds,
after ``--warmup`` seconds (default 2) of the same load that are not measured (a cold start's
first burst is not the steady state; its errors still count):

* ``GET /ping`` (Reflex's own, no database): the baseline of the same server in the same run,
  measured first and again last; the higher of the two is the baseline (a ratio is never
  flattered by a disturbed baseline run);
* ``POST /webhooks/sign`` (1 KiB payload), ``POST /webhooks/verify`` (a signature made just
  before the run), ``GET /keys?project_id=...`` (the first page);
* ``POST /webhooks/sign/batch`` with 100 messages: messages per second.

wrk shares the two cores with the server (and the machine with other jobs): only the ratios
within one worker count count. Every non-2xx answer or socket error is an error. Each run
prints the cores busy (the app, PostgreSQL, wrk, the host, what the hypervisor took) and the
app's CPU per request; before the runs, the host's own ceiling for "2 workers / 1": the work
2 CPU-bound processes do against 1, measured in the same run.

Targets (exit 1 on a miss): sign and verify at least 50% of /ping's requests/s, GET /keys at
least 40%, zero errors; with 1 worker the batch signs at least 10,000 messages/s; 2 workers
at least 1.5x the sign throughput of 1.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("MESHKEYS_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())

import psutil  # noqa: E402
import psycopg  # noqa: E402

from meshkeys import migrations  # noqa: E402
from meshkeys.db import make_engine  # noqa: E402
from meshkeys.services import auth, key_commands, projects  # noqa: E402
from tests.e2e.apprunner import run_app  # noqa: E402
from tests.helpers import PASSWORD, units  # noqa: E402
from tests.pgserver import pg_server  # noqa: E402

WRK = "/usr/bin/wrk"
LUA = ROOT / "bench" / "wrk" / "request.lua"
SIGN_RATIO, KEYS_RATIO, BATCH_MPS, SCALE_2 = 0.5, 0.4, 10_000, 1.5
BATCH = 100


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_world(url: str, master_key: str) -> tuple[str, str]:
    """(project id, API token) of a fresh owner with three active keys."""
    os.environ["MESHKEYS_MASTER_KEY"] = master_key
    from tests.helpers import reset_caches

    reset_caches()
    engine = make_engine(url)
    uow = units(engine)
    with uow() as unit:
        user = auth.create_user(unit, email="load@example.com", password=PASSWORD)
    from meshkeys.services.context import Actor

    owner = Actor(user_id=user.id, email=user.email)
    with uow(owner) as unit:
        project = projects.create_project(unit, name="Load")
    for n in range(3):
        with uow(owner) as unit:
            key_commands.generate_key(unit, project_id=project.id, name=f"load-{n}")
    with uow(owner) as unit:
        token = auth.create_api_token(unit, name="load").token
    engine.dispose()
    return str(project.id), token


def _spin(seconds: float, out: multiprocessing.Queue) -> None:
    """CPU-bound Python, like a worker's: JSON and an HMAC per round, for ``seconds``."""
    body, key, rounds = json.dumps({"data": "x" * 990}).encode(), b"k" * 32, 0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        for _ in range(100):
            hmac.new(key, json.dumps(json.loads(body)).encode(), "sha256").digest()
        rounds += 100
    out.put(rounds / seconds)


def host_scaling(seconds: float = 3.0) -> float:
    """How much more CPU-bound work 2 processes do than 1 on this host, in the same run: the
    ceiling for "2 workers / 1" whatever the server does (2.0 on two idle, independent cores)."""
    rates = []
    for n in (1, 2):
        out: multiprocessing.Queue = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=_spin, args=(seconds, out)) for _ in range(n)]
        for proc in procs:
            proc.start()
        rates.append(sum(out.get(timeout=seconds + 30) for _ in procs))
        for proc in procs:
            proc.join()
    return rates[1] / rates[0]


class CpuMeter:
    """Where the host's cores went during a run, in cores busy (CPU seconds / wall seconds): the
    app's processes (the server and its workers), PostgreSQL's, wrk's (this process's children,
    ``getrusage``) and the whole host's, and what the hypervisor took (steal). It says whether a
    worker count had idle cores to use, and what a request cost in CPU at that count."""

    def __init__(self, app_pid: int) -> None:
        self.app_pid = app_pid

    def _groups(self) -> dict[int, tuple[str, float]]:
        app = psutil.Process(self.app_pid)
        pids = {p.pid for p in [app, *app.children(recursive=True)]}
        out: dict[int, tuple[str, float]] = {}
        for proc in psutil.process_iter(["name", "cpu_times"]):
            times = proc.info["cpu_times"]
            if times is None:
                continue
            group = "app" if proc.pid in pids else proc.info["name"] or ""
            if group in ("app", "postgres"):
                out[proc.pid] = (group, times.user + times.system)
        return out

    def __enter__(self) -> CpuMeter:
        self.started = time.perf_counter()
        self.before = self._groups()
        self.host_before = psutil.cpu_times()
        self.children_before = os.times()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.started
        after = self._groups()
        used = {"app": 0.0, "postgres": 0.0}
        for pid, (group, cpu) in after.items():
            used[group] += cpu - self.before.get(pid, (group, 0.0))[1]
        host, start = psutil.cpu_times(), self.host_before
        idle = (host.idle + host.iowait) - (start.idle + start.iowait)
        steal = host.steal - start.steal  # the hypervisor ran another guest on this vCPU
        total = sum(host) - sum(start) - steal
        children = os.times()
        wrk_cpu = (children.children_user + children.children_system) - (
            self.children_before.children_user + self.children_before.children_system
        )
        self.cores = {
            "app": used["app"] / wall,
            "postgres": used["postgres"] / wall,
            "wrk": wrk_cpu / wall,
            "host": (total - idle) / wall,
            "idle": idle / wall,
            "steal": steal / wall,
        }

    def line(self) -> str:
        c = self.cores
        return (
            f"cores busy: app {c['app']:.2f}, postgres {c['postgres']:.2f}, wrk {c['wrk']:.2f};"
            f" host {c['host']:.2f} of {psutil.cpu_count()}, idle {c['idle']:.2f},"
            f" stolen {c['steal']:.2f}"
        )


def wrk(url: str, *, seconds: int, connections: int, env: dict[str, str]) -> dict[str, float]:
    argv = [WRK, "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    argv += ["-s", str(LUA), url]
    out = subprocess.run(
        argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=seconds + 60
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stdout[-800:]} {out.stderr[-800:]}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["errors"] = sum(
        figures[k]
        for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return figures


def post_body(tmp: Path, name: str, body: dict) -> str:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(body))
    return str(path)


def fresh_signature(base: str, token: str, project_id: str, payload: str) -> dict[str, str]:
    import urllib.request

    request = urllib.request.Request(
        f"{base}/webhooks/sign",
        data=json.dumps({"project_id": project_id, "payload": payload}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (our own server)
        headers: dict[str, str] = json.loads(answer.read())["headers"]
    return headers


def run_workers(
    workers: int, pg: object, world: list[str], args: argparse.Namespace, tmp: Path
) -> dict[str, dict[str, float]]:
    app_url = pg.app_url  # type: ignore[attr-defined]
    extra = {
        "GRANIAN_WORKERS": str(workers),
        "MESHKEYS_MIGRATION_DATABASE_URL": pg.owner_url,  # type: ignore[attr-defined]
        "MESHKEYS_RUNTIME_ROLE": pg.runtime_role,  # type: ignore[attr-defined]
        "MESHKEYS_MASTER_KEY": os.environ["MESHKEYS_MASTER_KEY"],
    }
    workdir = tmp / f"app-{workers}"
    with run_app(workdir, database_url=app_url, extra_env=extra) as app:
        if not world:
            world.extend(make_world(app_url, os.environ["MESHKEYS_MASTER_KEY"]))
        project_id, token = world
        payload = json.dumps({"type": "invoice.paid", "data": "x" * 990})
        base = app.backend_url
        sign = post_body(tmp, "sign", {"project_id": project_id, "payload": payload})
        batch = post_body(
            tmp,
            "batch",
            {"project_id": project_id, "messages": [{"payload": payload}] * BATCH},
        )
        auth_env = {"WRK_TOKEN": token}
        plan = [
            ("ping", f"{base}/ping", {}),
            ("sign", f"{base}/webhooks/sign", {"WRK_METHOD": "POST", "WRK_BODY_FILE": sign}),
            ("verify", f"{base}/webhooks/verify", {}),
            ("keys", f"{base}/keys?project_id={project_id}&limit=50", {}),
            (
                "batch",
                f"{base}/webhooks/sign/batch",
                {"WRK_METHOD": "POST", "WRK_BODY_FILE": batch},
            ),
            # The baseline again, last: on a noisy host one /ping run can be half another.
            ("ping-end", f"{base}/ping", {}),
        ]
        results: dict[str, dict[str, float]] = {}
        print(f"{workers} worker(s), load {load()}", flush=True)
        for name, url, env in plan:
            if name == "verify":
                headers = fresh_signature(base, token, project_id, payload)
                env = {
                    "WRK_METHOD": "POST",
                    "WRK_BODY_FILE": post_body(
                        tmp,
                        "verify",
                        {"project_id": project_id, "payload": payload, "headers": headers},
                    ),
                }
            request_env = {**(auth_env if not name.startswith("ping") else {}), **env}
            # Warm-up, not measured: the first burst of 16 connections finds the caches, the
            # thread pool and the generation's connections empty (a cold start, not a steady
            # state). Its errors still count.
            warm_errors = 0.0
            if args.warmup:
                warm_errors = wrk(
                    url, seconds=args.warmup, connections=args.connections, env=request_env
                )["errors"]
            spy = None
            if args.profile and name in args.profile_endpoints and workers == args.workers[0]:
                # py-spy over the server and its workers for this endpoint's run (PyPI, dev)
                out = ROOT / args.profile / f"{name}-{workers}w.txt"
                out.parent.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    [
                        str(ROOT / ".venv/bin/py-spy"),
                        "record",
                        "--subprocesses",
                        "--idle",
                        "-r",
                        "200",
                        "-d",
                        str(args.seconds),
                        "--format",
                        "raw",
                        "-o",
                        str(out),
                        "--pid",
                        str(app.process.pid),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1)  # attach before the load starts
            with CpuMeter(app.process.pid) as cpu:
                figures = wrk(
                    url,
                    seconds=args.seconds,
                    connections=args.connections,
                    env=request_env,
                )
            figures["errors"] += warm_errors
            figures.update({f"cores_{k}": v for k, v in cpu.cores.items()})
            if spy is not None:
                spy.wait(timeout=60)
            if name == "batch":
                figures["mps"] = figures["rps"] * BATCH
            results[name] = figures
            extra_col = f"  {figures['mps']:,.0f} messages/s" if name == "batch" else ""
            print(
                f"  {name:<7}{figures['rps']:9,.0f} req/s  p50 {figures['p50_us'] / 1000:7.1f} ms"
                f"  p99 {figures['p99_us'] / 1000:7.1f} ms  errors {figures['errors']:.0f}"
                f"{extra_col}\n           {cpu.line()};"
                f" app {cpu.cores['app'] / figures['rps'] * 1e6:,.0f} us of CPU a request",
                flush=True,
            )
    return results


def baseline(rows: dict[str, dict[str, float]]) -> float:
    """The server's /ping throughput: the higher of the run before the endpoints and the run
    after them, so a disturbed baseline never makes an endpoint's ratio look better."""
    return max(rows["ping"]["rps"], rows["ping-end"]["rps"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of unmeasured load before each run"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy the first worker count's runs into DIR (raw)"
    )
    parser.add_argument("--profile-endpoints", nargs="+", default=["sign", "keys"])
    args = parser.parse_args()
    if not os.access(WRK, os.X_OK):
        print(f"error: {WRK} is missing: apt-get install wrk", file=sys.stderr)
        return 2
    print(f"bench/load.py {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {load()}", flush=True)
    host = host_scaling()
    print(f"host: 2 CPU-bound processes do {host:.2f}x the work of 1", flush=True)
    table: dict[int, dict[str, dict[str, float]]] = {}
    world: list[str] = []
    began = time.perf_counter()
    with pg_server() as pg, tempfile.TemporaryDirectory(prefix="meshkeys-load-") as tmp:
        migrations.upgrade(pg.owner_url, runtime_role=pg.runtime_role)
        # `reflex run` compares the models with the schema at start (check_schema_up_to_date),
        # which reads alembic_version, and the runtime role is not granted it (migrations.py
        # _NOT_GRANTED): the app on PostgreSQL as the runtime role does not start without this.
        with psycopg.connect(pg.owner_dsn, autocommit=True) as conn:
            for role in (pg.runtime_role, pg.app_role):
                conn.execute(f'GRANT SELECT ON alembic_version TO "{role}"')
        for workers in args.workers:
            table[workers] = run_workers(workers, pg, world, args, Path(tmp))
    print(f"\n(took {time.perf_counter() - began:.0f} s; load {load()})")
    print(
        f"{'workers':<9}"
        + "".join(f"{n:>22}" for n in ("ping", "sign", "verify", "keys"))
        + f"{'batch msg/s':>14}"
    )
    for workers, rows in table.items():
        cells = "".join(
            f"{rows[n]['rps']:>9,.0f} r/s p99 {rows[n]['p99_us'] / 1000:>5.0f}ms"
            for n in ("ping", "sign", "verify", "keys")
        )
        print(f"{workers:<9}{cells}{rows['batch']['mps']:>14,.0f}")
    checks: list[tuple[str, float, str, bool]] = []
    for workers, rows in table.items():
        # The higher of the two /ping runs (first and last): the stricter baseline.
        ping = baseline(rows)
        print(
            f"{workers}w baseline /ping {ping:,.0f} req/s (first {rows['ping']['rps']:,.0f}, "
            f"last {rows['ping-end']['rps']:,.0f})"
        )
        for name, floor in (("sign", SIGN_RATIO), ("verify", SIGN_RATIO), ("keys", KEYS_RATIO)):
            ratio = rows[name]["rps"] / ping
            checks.append((f"{workers}w {name} / ping", ratio, f">= {floor}", ratio >= floor))
        errors = sum(r["errors"] for r in rows.values())
        checks.append((f"{workers}w errors", errors, "== 0", errors == 0))
    if 1 in table:
        mps = table[1]["batch"]["mps"]
        checks.append(("1w batch messages/s", mps, f">= {BATCH_MPS:,}", mps >= BATCH_MPS))
    if 1 in table and 2 in table:
        scale = table[2]["sign"]["rps"] / table[1]["sign"]["rps"]
        checks.append(("2w / 1w sign throughput", scale, f">= {SCALE_2}", scale >= SCALE_2))
        print(
            f"2w / 1w: sign {scale:.2f}, /ping {baseline(table[2]) / baseline(table[1]):.2f};"
            f" the host's own ceiling {host:.2f} (2 processes / 1)"
        )
    for label, value, target, ok in checks:
        print(f"{'ok  ' if ok else 'MISS'} {label:<28}{value:>10,.2f}  (target {target})")
    missed = sum(not c[3] for c in checks)
    print(f"bench/load.py: {'all targets met' if not missed else f'{missed} target(s) missed'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
