"""Screenshots of every page, as each role sees it, on the seeded demo: what a new operator and
admin would see in their first hour.

    python bench/screenshots.py [--out var/screenshots] [--wait 900] [--keep]
    python bench/screenshots.py --base-url http://127.0.0.1:8000   # a running `make run`

What it does:
1. Without --base-url: a scratch folder (VAR_DIR) and SQLite database, `migrate`, `seed_demo`,
   then the Procfile's web server, workers and beat (honcho), so the demo models train as they
   do under `make run`; it waits (at most --wait seconds) until no job is queued or running.
   With --base-url it uses that server and the database its environment names (VAR_DIR,
   DATABASE_URL), which must be the server's.
2. Gives the demo users (admin, operator) fresh passwords through the ORM and signs in as each.
3. Visits every page of every console (tests/e2e/page_quality.console_pages), takes a full-page
   PNG of each into OUT/<role>/, and checks each page as the browser tests do: axe-core's
   serious and critical violations, raw machine values in the visible text.
4. Prints one line per page (status, load time, findings) and writes them to OUT/report.txt;
   with --json, the figures as one JSON object on the last line.

OUT (var/screenshots by default) is under var/, which git ignores.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PROJECT_ROOT, finish, parser

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
ROLES = ("admin", "operator")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def start_stack(env: dict, port: int, log: Path) -> subprocess.Popen:
    """The Procfile's processes (web, workers, beat) under honcho, in their own process group."""
    honcho = Path(sys.executable).with_name("honcho")
    env = {**env, "WEB_PORT": str(port), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    return subprocess.Popen([str(honcho), "start", "-f", "Procfile"], cwd=PROJECT_ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)  # our own server on 127.0.0.1
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer in {timeout:.0f} s")
            time.sleep(1)


def wait_for_jobs(timeout: float) -> int:
    """Seconds waited until no job is queued or running (the demo's trainings), at most timeout."""
    from apps.core.models import Job

    start = time.monotonic()
    while Job.objects.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]).exists():
        if time.monotonic() - start > timeout:
            print(f"jobs still running after {timeout:.0f} s; taking the screenshots anyway")
            break
        time.sleep(5)
    return round(time.monotonic() - start)


def demo_passwords() -> dict[str, str]:
    """New passwords for the demo users (created by seed_demo), set through the ORM."""
    from django.contrib.auth import get_user_model

    passwords = {}
    for user in get_user_model().objects.filter(username__in=ROLES):
        passwords[user.username] = secrets.token_urlsafe(12)
        user.set_password(passwords[user.username])
        user.save(update_fields=["password"])
    missing = set(ROLES) - set(passwords)
    if missing:
        raise SystemExit(f"no demo user {', '.join(sorted(missing))}: run `manage.py seed_demo` first")
    return passwords


def shoot(base_url: str, out: Path, passwords: dict[str, str]) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from tests.e2e.page_quality import axe_violations, console_pages, raw_values

    pages = console_pages()
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        for role, password in passwords.items():
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"{base_url}/login/")
            page.fill("#id_username", role)
            page.fill("#id_password", password)
            page.click("button[type=submit]")
            page.wait_for_load_state("load")
            (out / role).mkdir(parents=True, exist_ok=True)
            for console, paths in pages.items():
                for path in paths:
                    start = time.monotonic()
                    response = page.goto(base_url + path)
                    page.wait_for_load_state("networkidle")
                    seconds = time.monotonic() - start
                    name = f"{console}{path.replace('/', '_')}".rstrip("_")
                    page.screenshot(path=str(out / role / f"{name}.png"), full_page=True)
                    rows.append({"role": role, "console": console, "path": path, "status": response.status,
                                 "seconds": round(seconds, 2), "raw": raw_values(page), "axe": axe_violations(page)})
            context.close()
        browser.close()
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "var" / "screenshots")
    p.add_argument("--base-url", help="a running server (its database must be the one this environment names)")
    p.add_argument("--wait", type=float, default=900, help="seconds to wait for the demo's jobs")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (its path is printed)")
    args = p.parse_args()

    env = dict(os.environ)
    stack = scratch = None
    if not args.base_url:
        scratch = Path(tempfile.mkdtemp(prefix="ai-suite-screens-"))
        env.update(VAR_DIR=str(scratch), DJANGO_SETTINGS_MODULE="config.settings.local")
        env.pop("DATABASE_URL", None)
        os.environ.update(VAR_DIR=env["VAR_DIR"], DJANGO_SETTINGS_MODULE=env["DJANGO_SETTINGS_MODULE"])
        os.environ.pop("DATABASE_URL", None)
        print(f"1. scratch folder {scratch}: migrate, seed the demo")
        manage("migrate", "--noinput", env=env)
        manage("seed_demo", env=env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM reads between Playwright calls
    import django

    django.setup()
    try:
        waited = 0
        if not args.base_url:
            port = free_port()
            stack = start_stack(env, port, scratch / "stack.log")
            args.base_url = f"http://127.0.0.1:{port}"
            wait_for(f"{args.base_url}/healthz", 120)
            print(f"   web, workers and beat on {args.base_url}; waiting for the demo's jobs")
            waited = wait_for_jobs(args.wait)
        print(f"2. signing in as {', '.join(ROLES)}")
        passwords = demo_passwords()
        print("3. every page, every role")
        rows = shoot(args.base_url.rstrip("/"), args.out, passwords)
    finally:
        if stack is not None:
            os.killpg(stack.pid, signal.SIGINT)
            stack.wait(timeout=60)
        if scratch is not None and not args.keep:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    lines = []
    for row in rows:
        findings = [*row["axe"], *row["raw"]]
        lines.append(f"{row['status']} {row['seconds']:6.2f} s  {row['role']:<9} {row['path']}"
                     + "".join(f"\n      {finding}" for finding in findings))
    report = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.txt").write_text(report + "\n", encoding="utf-8")
    print(report)
    print(f"4. {len(rows)} screenshots in {args.out}; report in {args.out / 'report.txt'}")
    finish({"pages": len(rows), "waited_for_jobs_s": waited,
            "with_raw_values": sum(bool(r["raw"]) for r in rows),
            "with_axe_violations": sum(bool(r["axe"]) for r in rows),
            "slowest_s": max((r["seconds"] for r in rows), default=0)}, args.json)


if __name__ == "__main__":
    main()
