"""Virtual users for bench/load.py (locust): widget chat, document ingestion, recommendations.

bench/load.py prepares the server and writes what the users need to a JSON file named by
LOAD_SETTINGS; run on its own, this file expects the same. Every response time after the warm-up
is kept per endpoint and written to LOAD_RESULTS as JSON when locust quits, so that the bench
computes exact percentiles (locust's own tables round them) and counts 5xx answers itself.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from collections import defaultdict

from locust import FastHttpUser, constant_pacing, constant_throughput, events, task

SETTINGS = json.loads(open(os.environ["LOAD_SETTINGS"], encoding="utf-8").read()) if os.environ.get("LOAD_SETTINGS") else {}
WARMUP_UNTIL = time.time() + float(SETTINGS.get("warmup_s", 0))
RESULTS: dict[str, dict] = defaultdict(lambda: {"ms": [], "statuses": defaultdict(int), "failures": 0})
_started = [0.0]


@events.test_start.add_listener
def _on_start(environment, **kwargs) -> None:
    global WARMUP_UNTIL
    WARMUP_UNTIL = time.time() + float(SETTINGS.get("warmup_s", 0))


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, response=None, exception=None, **kwargs) -> None:
    if time.time() < WARMUP_UNTIL:
        return
    if not _started[0]:
        _started[0] = time.time()
    row = RESULTS[name]
    row["ms"].append(response_time)
    status = getattr(response, "status_code", 0) or 0
    row["statuses"][str(status)] += 1
    if exception is not None:
        row["failures"] += 1


@events.quitting.add_listener
def _on_quit(environment, **kwargs) -> None:
    path = os.environ.get("LOAD_RESULTS")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"measured_from": _started[0], "measured_until": time.time(),
                       "endpoints": {name: {"ms": row["ms"], "statuses": dict(row["statuses"]),
                                            "failures": row["failures"]} for name, row in RESULTS.items()}},
                      handle)


def _lines(name: str) -> list[str]:
    return SETTINGS.get(name) or ["hello"]


class WidgetUser(FastHttpUser):
    """A customer on a web page with the widget: a few messages per conversation."""

    weight = int(SETTINGS.get("chat_users", 50))
    wait_time = constant_throughput(float(SETTINGS.get("chat_rate", 2.0)))

    def on_start(self) -> None:
        self.questions = itertools.cycle(random.Random(id(self)).sample(_lines("questions"), len(_lines("questions"))))
        self.conversation = None
        self.left = 0

    @task
    def chat(self) -> None:
        body = {"site_key": SETTINGS["site_key"], "text": next(self.questions)}
        if self.conversation and self.left > 0:
            body["conversation_id"] = self.conversation
        with self.client.post("/api/v1/chat/", json=body, name="chat",
                              headers={"Origin": SETTINGS["origin"], "Idempotency-Key": uuid.uuid4().hex},
                              catch_response=True) as response:
            if response.status_code == 200:
                data = response.json()
                if body.get("conversation_id") is None:
                    self.conversation, self.left = data["conversation_id"], random.randint(1, 4)
                else:
                    self.left -= 1
                if data.get("status") == "waiting":  # handed over: the next message starts afresh
                    self.conversation, self.left = None, 0
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")


class FeedClient(FastHttpUser):
    """A system posting batches of news to the finance API with its key."""

    weight = int(SETTINGS.get("ingest_users", 1))
    wait_time = constant_pacing(float(SETTINGS.get("ingest_every_s", 2.0)))

    def on_start(self) -> None:
        self.documents = iter(_lines("documents"))
        self.batch = int(SETTINGS.get("ingest_batch", 20))

    @task
    def ingest(self) -> None:
        items = []
        for _ in range(self.batch):
            text = next(self.documents, None)
            if text is None:  # every document sent once: fresh URLs keep them from being duplicates
                self.documents = iter(_lines("documents"))
                text = next(self.documents)
            items.append({"text": text, "source": "load", "url": f"https://news.example/{uuid.uuid4().hex}"})
        with self.client.post("/api/v1/finance/documents/", json={"documents": items}, name="finance ingest",
                              headers={"Authorization": f"Bearer {SETTINGS['finance_key']}"},
                              catch_response=True) as response:
            if response.status_code == 202:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")


class ShopBackend(FastHttpUser):
    """A shop's server asking for recommendations and similar items for its visitors."""

    weight = int(SETTINGS.get("rec_users", 4))
    wait_time = constant_throughput(float(SETTINGS.get("rec_rate", 2.0)))

    def on_start(self) -> None:
        self.users = _lines("rec_user_ids")
        self.items = _lines("rec_item_ids")
        self.headers = {"Authorization": f"Bearer {SETTINGS['rec_key']}"}

    @task(3)
    def recommendations(self) -> None:
        user = random.choice(self.users)
        self.client.get(f"/api/v1/recommendations/{user}/?k=10", name="recommendations", headers=self.headers)

    @task(1)
    def similar(self) -> None:
        item = random.choice(self.items)
        self.client.get(f"/api/v1/recommendation/items/{item}/similar/?k=10", name="similar items",
                        headers=self.headers)
