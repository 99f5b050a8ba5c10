"""Benchmark of issue 22 item 1: signed-in users on the five busiest pages, through `pilotis serve`.

Builds the demo (``pilotis demo --as-of 2026-11-26``, as ``tests/conftest.py`` does) in a fresh
SQLite file of a temporary folder, or into the database given by ``--database-url`` (PostgreSQL:
its name must contain « bench » or « test », the demo is created or refreshed in it), starts
``pilotis serve`` (waitress, the production-like path; ``PILOTIS_WORKER=external``: background
work left to ``pilotis worker`` processes, none started) on a free loopback port in a subprocess,
signs in N users on the demo accounts that read all five pages (direction, finances, élue,
administrateur, partenaire, in turn), and has each of them send requests on the home,
scorecard, coherence, needs and scenarios pages for the given seconds, pausing ``--think``
seconds between two requests (0: back to back). Every request has a time limit and the run a
bound in requests; only 127.0.0.1 is ever contacted.

The floor, measured in the same run before the load: the same five pages served to one user
alone, back to back (the server's own time for them, with nobody else waiting). Prints per-page
and overall p50/p95/p99, throughput, errors, the server's CPU per request, the load average of
the machine (shared with others: repeat when quieter, take medians) and, last, a line
``p95 … ms``.

    .venv/bin/python bench/load.py --users 30 --seconds 60 [--think 1.0] [--threads N]
        [--database-url postgresql://postgres@127.0.0.1:5432/pilotis_bench]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"  # loopback only: nothing else is ever contacted
DEMO_AS_OF = date(2026, 11, 26)
#: The demo's password and e-mail addresses (tests/conftest.py DEMO_PASSWORD, demo_email).
DEMO_PASSWORD = "demo-pilotis-2026"  # noqa: S105 - the demo's printed password
#: Demo accounts allowed on all five pages (a service manager may not read the scenarios).
ACCOUNTS = ("direction", "finances", "elu", "admin", "partenaire")
PAGES = {
    "accueil": "/",
    "tableau de bord": "/tableau-de-bord/",
    "cohérence": "/coherence",
    "besoins": "/besoins",
    "scénarios": "/scenarios",
}
REQUEST_TIMEOUT = 30.0
GOALS = (
    "30 users each pausing 1 s between requests: p95 under 300 ms with 0 errors; "
    "back to back, throughput at least triples (30 req/s or more)"
)


def demo_email(login: str) -> str:
    return f"{login}@carcassonne.pilotis.example"


# -- the server ------------------------------------------------------------------------------------
def build_demo_database(url: str, instance: Path) -> None:
    """What ``pilotis demo --as-of 2026-11-26`` writes, through the command itself (as the tests)."""
    from pilotis import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-" + "x" * 32, "INSTANCE_PATH": str(instance)})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])  # a database from an earlier run: brought up to date
    if result.exit_code == 0:
        result = runner.invoke(args=["demo", "--as-of", DEMO_AS_OF.isoformat()])
    app.extensions["pilotis.engine"].dispose()
    if result.exit_code != 0:
        raise SystemExit(f"la démonstration n'a pas pu être construite : {result.output}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(url: str, instance: Path, port: int, threads: int | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PILOTIS_INSTANCE_PATH": str(instance),
        "PILOTIS_SECRET_KEY": "bench-" + "s" * 40,
        "PILOTIS_ENV": "production",
        "PILOTIS_COOKIE_SECURE": "0",  # plain HTTP on loopback
        # the production layout: background work in `pilotis worker` processes, not in the web one
        "PILOTIS_WORKER": "external",
    }
    # `pilotis serve`, from this checkout (python -m pilotis in ROOT: the same command)
    command = [sys.executable, "-m", "pilotis", "serve", "--host", HOST, "--port", str(port)]
    if threads:
        command += ["--threads", str(threads)]
    process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"pilotis serve s'est arrêté : {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/connexion")  # the sign-in page: served once the app is up
            if connection.getresponse().status == 200:
                connection.close()
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("pilotis serve ne répond pas après 60 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- a signed-in user ------------------------------------------------------------------------------
class User:
    """One browser: its own keep-alive connection and cookies."""

    def __init__(self, port: int, login: str) -> None:
        self.port = port
        self.login = login
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                content = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a keep-alive connection closed by the server between two requests: a new one
                self.connection.close()
                self.connection = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
            self.connection = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
        return response.status, content

    def sign_in(self) -> None:
        status, page = self.request("GET", "/connexion")
        match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            rb'name="csrf_token" value="([^"]+)"', page
        )
        if status != 200 or not match:
            raise SystemExit(f"page de connexion : statut {status}, pas de jeton CSRF")
        form = {
            "csrf_token": match.group(1).decode(),
            "email": demo_email(self.login),
            "password": DEMO_PASSWORD,
        }
        status, _ = self.request("POST", "/connexion", form)
        if status != 302:
            raise SystemExit(f"connexion de {self.login} refusée (statut {status})")


@dataclass
class Results:
    #: (page, seconds, status or 0 for an exception), in order of completion.
    samples: list[tuple[str, float, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, page: str, seconds: float, status: int) -> None:
        with self.lock:
            self.samples.append((page, seconds, status))


def browse(
    user: User, first: int, seconds: float, think: float, results: Results, budget: threading.Semaphore
) -> None:
    """Request the pages in turn (starting at ``first``) until the time is up or the budget spent."""
    names = list(PAGES)
    deadline = time.monotonic() + seconds
    turn = first
    while time.monotonic() < deadline and budget.acquire(blocking=False):
        name = names[turn % len(names)]
        turn += 1
        start = time.perf_counter()
        try:
            status, _ = user.request("GET", PAGES[name])
        except OSError:
            status = 0
        results.add(name, time.perf_counter() - start, status)
        if think > 0:
            time.sleep(min(think, max(0.0, deadline - time.monotonic())))


# -- figures ---------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def summary(results: Results, elapsed: float) -> dict[str, float]:
    times = [s for _, s, _ in results.samples]
    errors = sum(1 for _, _, status in results.samples if status != 200)
    return {
        "count": len(times),
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "p99": percentile(times, 99),
        "rate": len(times) / elapsed,
        "errors": errors,
    }


def print_pages(results: Results) -> None:
    for name in PAGES:
        times = [s for page, s, _ in results.samples if page == name]
        errors = sum(1 for page, _, status in results.samples if page == name and status != 200)
        if times:
            print(
                f"  {name:<16} p50 {ms(percentile(times, 50))}  p95 {ms(percentile(times, 95))}  "
                f"p99 {ms(percentile(times, 99))}  ({len(times)} requêtes, {errors} erreur(s))"
            )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (pour {os.cpu_count()} cœurs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=1.0, help="pause entre deux requêtes (0 : aucune)")
    parser.add_argument("--threads", type=int, default=None, help="fils de waitress (défaut : pilotis serve)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL ; défaut : SQLite temporaire")
    parser.add_argument("--max-requests", type=int, default=200_000, help="borne du nombre de requêtes")
    parser.add_argument("--floor-rounds", type=int, default=8, help="tours des 5 pages pour le plancher")
    args = parser.parse_args()
    if not 1 <= args.users <= 500 or not 0 < args.seconds <= 3600 or args.think < 0:
        raise SystemExit("--users entre 1 et 500, --seconds entre 0 et 3600, --think positif")

    with tempfile.TemporaryDirectory(prefix="pilotis-load-") as folder:
        instance = Path(folder)
        url = args.database_url or f"sqlite:///{instance / 'bench.db'}"
        if args.database_url:
            from pilotis.database import normalise_url

            name = normalise_url(url).database or ""
            if "bench" not in name and "test" not in name:
                raise SystemExit(
                    f"la base « {name} » sera remplie par la démo : son nom doit contenir bench ou test"
                )
        started = time.perf_counter()
        build_demo_database(url, instance)
        backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
        print(f"démonstration construite sur {backend} en {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = start_server(url, instance, port, args.threads)
        try:
            run(args, port, server.pid, backend)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


def run(args: argparse.Namespace, port: int, pid: int, backend: str) -> None:
    print(f"objectifs (issue 22) : {GOALS}")
    print(f"charge de la machine au départ : {load_average()}")
    # warm-up and floor: one user alone, back to back, the same five pages
    alone = User(port, ACCOUNTS[0])
    alone.sign_in()
    for path in PAGES.values():
        alone.request("GET", path)
    floor = Results()
    cpu_before, start = cpu_seconds(pid), time.perf_counter()
    for _ in range(args.floor_rounds):
        for name, path in PAGES.items():
            t0 = time.perf_counter()
            status, _ = alone.request("GET", path)
            floor.add(name, time.perf_counter() - t0, status)
    floor_elapsed = time.perf_counter() - start
    floor_cpu = (cpu_seconds(pid) - cpu_before) / max(1, len(floor.samples))
    base = summary(floor, floor_elapsed)
    print(
        f"plancher — un utilisateur seul, sans pause ({base['count']:.0f} requêtes) : p50 {ms(base['p50'])}, "
        f"p95 {ms(base['p95'])}, p99 {ms(base['p99'])}, {base['rate']:.1f} req/s, "
        f"CPU du serveur {floor_cpu * 1000:.1f} ms par requête, {base['errors']:.0f} erreur(s)"
    )
    print_pages(floor)

    users = [User(port, ACCOUNTS[i % len(ACCOUNTS)]) for i in range(args.users)]
    for user in users:
        user.sign_in()
    budget = threading.Semaphore(args.max_requests)
    results = Results()
    threads = [
        threading.Thread(target=browse, args=(u, i, args.seconds, args.think, results, budget), daemon=True)
        for i, u in enumerate(users)
    ]
    cpu_before, start = cpu_seconds(pid), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + REQUEST_TIMEOUT + 5)
    elapsed = time.perf_counter() - start
    loaded_cpu = (cpu_seconds(pid) - cpu_before) / max(1, len(results.samples))
    figures = summary(results, elapsed)
    pause = f"pause {args.think:g} s" if args.think > 0 else "sans pause"
    print(
        f"{args.users} utilisateurs, {pause}, {args.seconds:g} s sur {backend} : {figures['count']:.0f} requêtes, "
        f"{figures['rate']:.1f} req/s, {figures['errors']:.0f} erreur(s), "
        f"CPU du serveur {loaded_cpu * 1000:.1f} ms par requête"
    )
    print_pages(results)
    print(
        f"rapport au plancher : p50 {figures['p50'] / base['p50']:.1f} ×, p95 {figures['p95'] / base['p95']:.1f} ×, "
        f"débit {figures['rate'] / base['rate']:.2f} × celui d'un utilisateur seul sans pause"
    )
    if args.think > 0:
        held = figures["p95"] < 0.300 and figures["errors"] == 0
        print(f"objectif p95 < 300 ms et 0 erreur : {'tenu' if held else 'MANQUÉ'}")
    else:
        print(f"objectif 30 req/s ou plus sans pause : {'tenu' if figures['rate'] >= 30 else 'MANQUÉ'}")
    print(f"charge de la machine à la fin : {load_average()}")
    print(
        f"p95 {figures['p95'] * 1000:.0f} ms (p50 {figures['p50'] * 1000:.0f} ms, p99 {figures['p99'] * 1000:.0f} ms, "
        f"{figures['rate']:.1f} req/s, {figures['errors']:.0f} erreur(s), {args.users} utilisateurs, {pause}, {backend})"
    )


if __name__ == "__main__":
    main()
