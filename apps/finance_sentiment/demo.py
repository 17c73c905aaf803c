"""Demo content of finance sentiment, written for this project (no rows of the public data sets).

Topics with keywords and example sentences, a small watchlist, one alert rule for every topic,
two labelled sets for a first `head` model (demo_sentences.py: generated training sentences and
a hand-written evaluation-only set large enough for the activation policy to judge), and a week
of templated news that ends with a surge of profit warnings and job cuts in the last hours: the
"Earnings and results" topic, a calm mix most of the week, turns mostly negative, so the rule
opens an alert once the documents are scored. (The surge also lands in "Layoffs and
restructuring", whose news is negative all week: a negative-share rule cannot see a surge there.)
Upload the Financial PhraseBank and retrain with full fine-tuning for real quality.
"""
from __future__ import annotations

import random
from datetime import timedelta

from .demo_sentences import EVALUATION_SENTENCES, demo_training_sentences

# Seeded (and its first model queued) early: its documents wait for scoring and alerting after it.
SEED_ORDER = 20
TRAINING_SET, EVALUATION_SET = "Demo sentences", "Demo evaluation sentences"
# The first model: a logistic regression on the bundled encoder's embedding (`head`, seconds on a
# CPU); the activation policy decides on the evaluation set as for any other version. No
# temperature: one fitted on a split of templated sentences learns that templates are easy (it
# is right on all of them) and would push every answer to ~100 %; the head's own probabilities
# match its accuracy on the hand-written sentences (mean top probability 0.87, accuracy 0.89).
DEMO_TRAINING_CONFIG = {"method": "head", "calibrate": False}

TOPICS = [
    {"name": "Earnings and results", "keywords": ["earnings", "profit", "revenue", "net sales", "quarterly results",
                                                   "guidance", "EPS", "operating margin"],
     "examples": ["Quarterly profit rose on higher sales of software subscriptions.",
                  "The retailer cut its full-year earnings guidance after weak holiday sales.",
                  "Net sales for the period were flat compared with a year earlier.",
                  "Operating profit fell to EUR 12 million from EUR 15 million.",
                  "The company beat analysts' revenue estimates for the third quarter."]},
    {"name": "Mergers and acquisitions", "keywords": ["acquisition", "acquire", "merger", "takeover", "buyout",
                                                      "deal", "stake"],
     "examples": ["The group agreed to acquire its smaller rival for 2 billion dollars in cash.",
                  "Shareholders approved the merger of the two paper mills.",
                  "A private equity firm launched a takeover bid for the logistics company.",
                  "The bank sold its stake in the insurance joint venture."]},
    {"name": "Layoffs and restructuring", "keywords": ["layoffs", "job cuts", "redundancies", "restructuring",
                                                       "plant closure", "cut jobs", "temporary lay-offs"],
     "examples": ["The manufacturer will cut 800 jobs and close two plants.",
                  "The company started negotiations on reducing 120 jobs.",
                  "Staff were given notice of temporary lay-offs at the factory.",
                  "The airline plans to shed a fifth of its workforce."]},
    {"name": "Rates and central banks", "keywords": ["interest rate", "rate hike", "rate cut", "central bank",
                                                     "Federal Reserve", "Fed", "ECB", "inflation", "bond yields"],
     "examples": ["The central bank raised its key interest rate by a quarter point.",
                  "Bond yields climbed as inflation came in above expectations.",
                  "The Federal Reserve signalled it would keep rates on hold."]},
    {"name": "Legal and regulatory", "keywords": ["lawsuit", "fine", "regulator", "investigation", "antitrust",
                                                  "settlement", "court", "probe"],
     "examples": ["The regulator fined the lender for failures in its anti-money-laundering controls.",
                  "Investors filed a class-action lawsuit against the drug maker.",
                  "The company reached a settlement with the competition authority.",
                  "Prosecutors opened an investigation into the accounting irregularities."]},
    {"name": "Orders and contracts", "keywords": ["order", "contract", "agreement", "supply deal", "awarded"],
     "examples": ["The shipyard won an order for two cruise ships worth EUR 1.2 billion.",
                  "The utility signed a ten-year supply agreement with a wind farm developer.",
                  "The defence group was awarded a maintenance contract by the navy."]},
]
TOPIC_THRESHOLD = 0.40

TICKERS = [
    {"symbol": "NOKIA", "name": "Nokia", "aliases": ["Nokia Oyj", "NOK"], "match_symbol": True},
    {"symbol": "AAPL", "name": "Apple", "aliases": ["Apple Inc"], "match_symbol": True},
    {"symbol": "TSLA", "name": "Tesla", "aliases": [], "match_symbol": True},
    {"symbol": "UPM", "name": "UPM-Kymmene", "aliases": ["UPM"], "match_symbol": True},
    {"symbol": "JPM", "name": "JPMorgan", "aliases": ["JPMorgan Chase", "JP Morgan"], "match_symbol": True},
]

RULE = {"name": "Negative surge in any topic", "metric": "negative_share", "granularity": "hour", "baseline": "ewma",
        "window": 48, "z_threshold": 3.0, "min_volume": 10, "min_increase": 0.15, "min_history": 6}

COMPANIES = ["Nordic Paper", "Harbour Logistics", "Aurora Bank", "Kestrel Motors", "Brightwave Software",
             "Pine Energy", "Lakeside Foods", "Granite Shipyards", "Nokia", "Apple", "Tesla", "UPM-Kymmene", "JPMorgan"]
# Every template states a figure: near-identical texts with the same figures would be dropped as duplicates.
TEMPLATES = {
    "positive": [
        "{c} reported quarterly profit up {p} percent on strong demand.", "{c} won a new order worth EUR {n} million.",
        "{c} raised its full-year revenue guidance by {n} million.",
        "{c} agreed to acquire a rival for {n} million in a deal that lifts earnings.",
        "{c} signed a supply agreement worth {n} million with a major customer.",
    ],
    "neutral": [
        "{c} will publish its interim report on {d} May.", "{c} said its annual general meeting will be held on {d} April.",
        "{c} kept net sales flat at EUR {n} million.", "{c} will move {n} office staff to its new headquarters.",
        "Analysts expect {c} to report revenue of about {n} million next week.",
    ],
    "negative": [
        "{c} cut its earnings guidance as sales fell {p} percent.", "{c} was fined EUR {n} million by the regulator.",
        "{c} faces a lawsuit from investors seeking {n} million over its accounting.",
        "{c} swung to an operating loss of EUR {n} million.",
    ],
    "layoffs": [
        "{c} will cut {n} jobs and close a plant in a restructuring.",
        "{c} announced {n} redundancies as demand for its products slumps.",
        "{c} gave notice of temporary lay-offs to {n} employees.",
        "{c} plans job cuts of {n} in a new restructuring programme.",
    ],
    # The surge: bad results and the job cuts that follow, so it reaches the earnings topic.
    "profit_warning": [
        "{c} issued a profit warning and will cut {n} jobs.",
        "{c} will cut {n} jobs after its quarterly profit fell {p} percent.",
        "{c} announced {n} redundancies as revenue slumped {p} percent.",
        "{c} cut its earnings guidance and started negotiations on {n} job cuts.",
        "{c} gave notice of temporary lay-offs to {n} employees after net sales dropped {p} percent.",
    ],
}
SURGE_PER_HOUR = 14


def demo_stream(*, now, days: int = 7, per_hour: int = 6, surge_hours: int = 2, seed: int = 54) -> list[dict]:
    """A week of templated news, ending with a surge of profit warnings and job cuts in the last
    `surge_hours` hours (SURGE_PER_HOUR more documents an hour)."""
    rng = random.Random(seed)
    items = []
    start = now - timedelta(days=days)
    hours = days * 24
    for hour in range(hours):
        surge = hour >= hours - surge_hours
        count = per_hour + (SURGE_PER_HOUR if surge else 0)
        for k in range(count):
            kind = "profit_warning" if surge and k >= per_hour else rng.choices(
                ["positive", "neutral", "negative", "layoffs"], weights=[3, 5, 2, 0.3])[0]
            company = rng.choice(COMPANIES)
            text = rng.choice(TEMPLATES[kind]).format(c=company, n=rng.randint(20, 2000), d=rng.randint(1, 28),
                                                      p=rng.randint(2, 40))
            published = start + timedelta(hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
            items.append({"text": text, "source": rng.choice(["Demo Wire", "Demo Markets", "Demo Blog"]),
                          "published_at": published.isoformat(), "url": f"https://news.example.com/demo/{hour}-{k}"})
    return items


def _labelled_set_create(name: str, sentences: dict[str, list[str]], role: str, notes: str) -> None:
    from .models import LabelledExample, LabelledSet

    labelled = LabelledSet.objects.create(
        name=name, file_name="(written for the demo)", role=role, size=sum(map(len, sentences.values())),
        label_counts={label: len(texts) for label, texts in sentences.items()}, notes=notes)
    LabelledExample.objects.bulk_create([LabelledExample(labelled_set=labelled, text=text, label=label)
                                         for label, texts in sentences.items() for text in texts])


def seed_demo_content(*, stdout) -> None:
    """Idempotent: creates only what is missing."""
    from django.db import transaction
    from django.utils import timezone
    from django.utils.text import slugify

    from .models import AlertRule, Document, LabelledSet, Ticker, Topic
    from .services.ingestion import documents_ingest

    with transaction.atomic():
        for spec in TOPICS:
            Topic.objects.get_or_create(slug=slugify(spec["name"]), defaults={
                "name": spec["name"], "keywords": spec["keywords"], "examples": spec["examples"],
                "threshold": TOPIC_THRESHOLD})
        for spec in TICKERS:
            Ticker.objects.get_or_create(symbol=spec["symbol"], defaults={
                "name": spec["name"], "aliases": spec["aliases"], "match_symbol": spec["match_symbol"]})
        AlertRule.objects.get_or_create(name=RULE["name"], defaults={k: v for k, v in RULE.items() if k != "name"})
        if not LabelledSet.objects.filter(name__in=[TRAINING_SET, EVALUATION_SET]).exists():
            _labelled_set_create(TRAINING_SET, demo_training_sentences(), LabelledSet.Role.TRAIN,
                                 "Generated from the demo's own templates (demo_sentences.py); upload the Financial "
                                 "PhraseBank for a real model")
            _labelled_set_create(EVALUATION_SET, EVALUATION_SENTENCES, LabelledSet.Role.TEST,
                                 "Hand-written for the demo, in other words than the training sentences: the "
                                 "activation policy judges new versions on them")
    stdout.write("Finance sentiment: topics, watchlist, an alert rule and the demo's labelled sets (training and "
                 "evaluation) are in place.")

    from apps.core.models import Job, ModelVersion
    from apps.core.scenarios import get_scenario

    from .scenario import SENTIMENT_SCENARIO as scenario
    if not ModelVersion.objects.filter(scenario=scenario).exists() and \
            not Job.objects.filter(scenario=scenario, kind="core.train_classifier").exists():
        job = get_scenario(scenario).retrain(params={"config": DEMO_TRAINING_CONFIG})
        stdout.write(f"Finance sentiment: queued a first (demo-quality) model training, job {job.pk}.")
    if not Document.objects.exists():
        items = demo_stream(now=timezone.now())
        # Before the first model is active a scoring job could only fail: leave the documents
        # pending for beat's score_pending sweep, which starts once a model is active.
        model_active = ModelVersion.objects.filter(scenario=scenario, is_active=True).exists()
        accepted = sum(documents_ingest(items=items[i : i + 500], origin="demo", label="demo news",
                                        score_now=model_active).batch.accepted
                       for i in range(0, len(items), 500))
        stdout.write(f"Finance sentiment: {accepted} demo documents "
                     + ("queued for scoring." if model_active else
                        "wait for the first model; beat scores them within two minutes of its activation."))
