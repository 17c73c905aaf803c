"""Load: widget chat, document ingestion and recommendations at once, against gunicorn.

    python bench/load.py [--users 50] [--chat-rate 2.4] [--duration 60] [--json]

What it does, all on this machine (127.0.0.1), in a scratch folder and a scratch database:
1. Migrates a fresh PostgreSQL database (--database-url; dropped and created again), seeds the
   demo content, trains the demo models in this process (customer-service intents on the demo
   knowledge base; finance sentiment; the recommender on MovieLens 100K when --movielens exists).
2. Starts gunicorn (config.settings.production over plain HTTP, --web-workers processes, one torch
   thread each) with Redis as the cache, so the widget's rate limits are shared by the workers, and
   one Celery inference worker that scores the ingested documents as a real stack would.
3. Runs locust headless (bench/locustfile.py) for --duration seconds after a warm-up:
   --users widget users, each sending --chat-rate messages a second (a few per conversation;
   real customers type far slower, so 50 users here stand for many more), one feed system posting
   --ingest-batch documents every --ingest-every seconds, and --rec-users shop servers asking for
   recommendations and similar items.
Load generator, web, worker, PostgreSQL and Redis share the same CPU cores.

Figures per endpoint: requests, throughput, p50/p95/p99 (exact, from every response time after
the warm-up), 5xx and other errors. Required (issue 10): chat >= 100 requests/s at p95 <= 200 ms
with 50 concurrent users on a 2-core machine, zero 5xx.

The bench site's rate limits are raised: every virtual user comes from 127.0.0.1, which the
production per-IP limit would (rightly) throttle.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/load.py`
from bench.common import PROJECT_ROOT, data_path, finish, parser, print_table

REQUIRED = {"chat_rps": 100.0, "chat_p95_ms": 200.0, "errors_5xx": 0}
ORIGIN = "http://shop.example"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def server_environment(args, scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings.production", "DJANGO_SECRET_KEY": "load-bench-" + os.urandom(16).hex(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database_url, "CACHE_URL": args.cache_url, "VAR_DIR": str(scratch),
        "ARTIFACTS_ROOT": str(scratch / "artifacts"), "CELERY_BROKER_URL": args.broker_url,
        "LOG_LEVEL": "WARNING", "ML_CPU_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
        "CUSTOMER_SERVICE_ENCODER": args.encoder,
    })
    return env


def prepare(args, env: dict[str, str]) -> dict:
    """Migrate, seed and train in this process; return what the virtual users need."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from apps.core.models import Job
    from apps.core.services.jobs import job_run
    from config.celery import app

    call_command("migrate", verbosity=0)
    call_command("seed_demo", "--no-job", stdout=open(os.devnull, "w"))
    if args.movielens.exists():
        call_command("import_movielens", str(args.movielens), stdout=open(os.devnull, "w"))
        from apps.recommendation.services import recommender_retrain_start

        if not Job.objects.filter(kind__startswith="recommendation.", state="queued").exists():
            recommender_retrain_start(params={"activate": "always"})
    from apps.finance_sentiment.tasks import score_pending

    def run_queued() -> None:
        for job in Job.objects.filter(state="queued").order_by("created_at"):
            started = time.perf_counter()
            print(f"  in this process: {job.title} ...", file=sys.stderr, flush=True)
            job_run(job_id=job.pk, work=app.tasks[job.kind].work, worker="load-bench")
            job.refresh_from_db()
            if job.state != "succeeded":
                raise SystemExit(f"{job.title} failed: {job.error}")
            print(f"  {job.title}: {job.message} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    run_queued()
    score_pending()  # the demo documents waited for the first finance model (beat does this in `make run`)
    run_queued()

    from apps.core.services.api_keys import api_key_create
    from apps.customer_service.models import Site
    from apps.recommendation.models import EndUser, Item

    site = Site.objects.create(name="load bench", allowed_origins=ORIGIN,
                               rate_limit_per_ip="1000000/m", rate_limit_per_site="1000000/m")
    _, finance_key = api_key_create(name="load bench: news feed", scopes=["finance"])
    _, shop_key = api_key_create(name="load bench: shop backend", scopes=["recommendation"])
    return {
        "site_key": site.public_key, "origin": ORIGIN, "finance_key": finance_key, "rec_key": shop_key,
        "rec_user_ids": list(EndUser.objects.values_list("external_id", flat=True)[:500]),
        "rec_item_ids": list(Item.objects.filter(is_active=True).values_list("external_id", flat=True)[:500]),
    }


def read_column(path: Path, column: str, limit: int, header: bool = True, index: int = 0) -> list[str]:
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        if header:
            return [row[column] for row, _ in zip(csv.DictReader(handle), range(limit)) if row.get(column)]
        return [row[index] for row, _ in zip(csv.reader(handle), range(limit)) if row]


def wait_http(url: str, timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not answer {url} within {timeout:.0f} s")


def warm_up(base: str, settings: dict, web_workers: int) -> None:
    """Each gunicorn worker loads the encoder, the models and the index on its first requests."""
    import urllib.request

    body = json.dumps({"site_key": settings["site_key"], "text": "where is my order"}).encode()
    for _ in range(web_workers * 6):
        request = urllib.request.Request(f"{base}/api/v1/chat/", data=body, method="POST",
                                         headers={"Content-Type": "application/json", "Origin": ORIGIN})
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()


def summarise(raw: dict) -> dict:
    seconds = max(raw["measured_until"] - raw["measured_from"], 1e-9)
    rows = {}
    for name, row in raw["endpoints"].items():
        ms = np.asarray(row["ms"], dtype=float)
        statuses = {int(k): v for k, v in row["statuses"].items()}
        rows[name] = {
            "requests": int(ms.size), "rps": ms.size / seconds,
            "p50_ms": float(np.percentile(ms, 50)) if ms.size else None,
            "p95_ms": float(np.percentile(ms, 95)) if ms.size else None,
            "p99_ms": float(np.percentile(ms, 99)) if ms.size else None,
            "errors_5xx": sum(v for k, v in statuses.items() if k >= 500),
            "errors_other": sum(v for k, v in statuses.items() if k == 0 or 400 <= k < 500),
            "statuses": statuses,
        }
    return {"seconds": round(seconds, 1), "endpoints": rows}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=50, help="concurrent widget users")
    p.add_argument("--chat-rate", type=float, default=2.4, help="messages per second per widget user")
    p.add_argument("--rec-users", type=int, default=4, help="shop servers asking for recommendations")
    p.add_argument("--rec-rate", type=float, default=2.0, help="requests per second per shop server")
    p.add_argument("--ingest-batch", type=int, default=20, help="documents per finance batch")
    p.add_argument("--ingest-every", type=float, default=10.0, help="seconds between finance batches")
    p.add_argument("--duration", type=int, default=60, help="measured seconds (after the warm-up)")
    p.add_argument("--warmup", type=int, default=10, help="seconds of load before measuring")
    p.add_argument("--web-workers", type=int, default=3, help="gunicorn worker processes")
    p.add_argument("--web-threads", type=int, default=1, help="threads per gunicorn worker")
    p.add_argument("--encoder", default="onnx-int8", choices=("torch", "onnx", "onnx-int8"),
                   help="the chat's encoder (CUSTOMER_SERVICE_ENCODER)")
    p.add_argument("--no-worker", action="store_true", help="no Celery worker (ingested documents stay queued)")
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ai_suite_load",
                   help="a PostgreSQL database this bench may drop and create")
    p.add_argument("--cache-url", default="redis://127.0.0.1:6379/14", help="shared cache for rate limits")
    p.add_argument("--broker-url", default="redis://127.0.0.1:6379/15")
    p.add_argument("--questions", type=Path,
                   default=data_path("bitext_customer_support", "Bitext_Sample_Customer_Support_Training_Dataset.csv"),
                   help="customer messages (Bitext CSV, column instruction)")
    p.add_argument("--documents", type=Path,
                   default=data_path("twitter_financial_news_sentiment", "sent_valid.csv"),
                   help="financial texts (CSV with a text column)")
    p.add_argument("--movielens", type=Path, default=data_path("ml-100k"), help="MovieLens 100K folder")
    args = p.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    recreate_database(args.database_url)
    env = server_environment(args, scratch)
    started = time.perf_counter()
    settings = prepare(args, env)
    print(f"prepared in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    settings.update({
        "questions": read_column(args.questions, "instruction", 3000),
        "documents": read_column(args.documents, "text", 5000),
        "chat_users": args.users, "chat_rate": args.chat_rate, "rec_users": args.rec_users,
        "rec_rate": args.rec_rate, "ingest_users": 1, "ingest_batch": args.ingest_batch,
        "ingest_every_s": args.ingest_every, "warmup_s": args.warmup,
    })
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = scratch / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen] = []
    try:
        processes.append(subprocess.Popen(
            [str(BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.web_workers), "--threads", str(args.web_threads), "--timeout", "120",
             "--backlog", "2048"],
            cwd=PROJECT_ROOT, env=env, stdout=open(logs / "web.log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True))
        if not args.no_worker:
            processes.append(subprocess.Popen(
                [str(BIN / "celery"), "-A", "config", "worker", "-Q", "inference", "-c", "1", "-l", "WARNING",
                 "-n", "load-inference@%h"],
                cwd=PROJECT_ROOT, env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT,
                start_new_session=True))
        wait_http(f"{base}/healthz")
        warm_up(base, settings, args.web_workers)
        results = scratch / "results.json"
        settings_file = scratch / "load-settings.json"
        settings_file.write_text(json.dumps(settings), encoding="utf-8")
        locust_env = dict(env, LOAD_SETTINGS=str(settings_file), LOAD_RESULTS=str(results))
        command = [str(BIN / "locust"), "-f", str(PROJECT_ROOT / "bench" / "locustfile.py"), "--headless",
                   "--host", base, "-u", str(args.users + args.rec_users + 1), "-r", str(args.users + args.rec_users + 1),
                   "-t", f"{args.duration + args.warmup}s", "--only-summary", "--stop-timeout", "10",
                   "--loglevel", "WARNING"]
        print("$ " + " ".join(command[1:]), file=sys.stderr, flush=True)
        load_started = time.time()
        cpu_before = _cpu_seconds(processes)
        subprocess.run(command, cwd=PROJECT_ROOT, env=locust_env, stdout=open(logs / "locust.log", "w"),
                       stderr=subprocess.STDOUT, check=False)
        cpu_seconds = _cpu_seconds(processes) - cpu_before
        wall = time.time() - load_started
        if not results.exists():
            raise SystemExit(f"locust wrote no results; see {logs / 'locust.log'}")
        summary = summarise(json.loads(results.read_text()))
        queued = _queued_documents()
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    rows = summary["endpoints"]
    print_table(f"Load over {summary['seconds']} s measured (after {args.warmup} s warm-up): "
                f"{args.users} widget users at {args.chat_rate}/s, 1 feed, {args.rec_users} shop servers; "
                f"gunicorn {args.web_workers}x{args.web_threads}, chat encoder {args.encoder}, {os.cpu_count()} CPU cores",
                ["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "5xx", "other errors"],
                [[name, r["requests"], r["rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["errors_5xx"],
                  r["errors_other"]] for name, r in sorted(rows.items())])
    chat = rows.get("chat", {})
    figures = {
        "chat_rps": chat.get("rps", 0.0), "chat_p50_ms": chat.get("p50_ms"), "chat_p95_ms": chat.get("p95_ms"),
        "chat_p99_ms": chat.get("p99_ms"),
        "errors_5xx": sum(r["errors_5xx"] for r in rows.values()),
        "errors_other": sum(r["errors_other"] for r in rows.values()),
        "requests": sum(r["requests"] for r in rows.values()),
        "seconds": summary["seconds"], "users": args.users, "chat_rate_per_user": args.chat_rate,
        "web_workers": args.web_workers, "web_threads": args.web_threads, "worker": not args.no_worker,
        "encoder": args.encoder,
        "server_cpu_seconds_per_s": round(cpu_seconds / wall, 2) if wall else None,
        "documents_waiting_for_scores": queued, "load_average": round(os.getloadavg()[0], 1),
        "endpoints": {name: {k: v for k, v in r.items() if k != "statuses"} for name, r in rows.items()},
    }
    print_table("Required (issue 10)", ["figure", "required", "measured", "met"], [
        ["chat req/s", f">= {REQUIRED['chat_rps']:.0f}", figures["chat_rps"], figures["chat_rps"] >= REQUIRED["chat_rps"]],
        ["chat p95 ms", f"<= {REQUIRED['chat_p95_ms']:.0f}", figures["chat_p95_ms"],
         figures["chat_p95_ms"] is not None and figures["chat_p95_ms"] <= REQUIRED["chat_p95_ms"]],
        ["5xx", "0", figures["errors_5xx"], figures["errors_5xx"] == 0],
    ])
    print(f"logs: {logs}", file=sys.stderr)
    finish(figures, args.json)
    if not os.environ.get("LOAD_KEEP_SCRATCH"):
        shutil.rmtree(scratch / "artifacts", ignore_errors=True)


def _cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """User + system CPU of the server processes and their children (gunicorn workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for process in processes:
        for pid in _tree(process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
            except (OSError, IndexError, ValueError):
                pass
    return total


def _tree(pid: int) -> list[int]:
    children = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            children += _tree(int(child))
    except OSError:
        pass
    return children


def _queued_documents() -> int | None:
    try:
        from apps.finance_sentiment.models import Document

        return Document.objects.filter(scored_at__isnull=True).count()
    except Exception:  # noqa: BLE001 - a figure for the table only
        return None


if __name__ == "__main__":
    main()
