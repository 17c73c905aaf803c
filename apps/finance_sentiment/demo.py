"""Demo content of finance sentiment, written for this project (no rows of the public data sets).

Topics with keywords and example sentences, a small watchlist, one alert rule for every topic,
a labelled set of hand-written sentences (enough for a first `head` model in seconds; upload the
Financial PhraseBank and retrain with full fine-tuning for real quality), and a week of
templated news in which negative news about layoffs surges in the last hours.
"""
from __future__ import annotations

import random
from datetime import timedelta

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

# Hand-written labelled sentences (financial-news style): enough for a first model.
LABELLED = {
    "positive": [
        "Quarterly profit jumped 25 percent on strong demand.", "The company raised its full-year outlook.",
        "Net sales grew by 12 percent to EUR 340 million.", "The shipyard won a record order for three vessels.",
        "Shares rallied after the results beat expectations.", "Operating margin improved to 14 percent.",
        "The bank increased its dividend for the fifth year in a row.", "Order intake rose sharply in Asia.",
        "The retailer reported its best holiday season in a decade.", "Analysts upgraded the stock to buy.",
        "Cost savings lifted earnings above forecasts.", "The drug maker won approval for its new treatment.",
        "Revenue from subscriptions doubled year on year.", "The group returned to profit in the second quarter.",
        "Demand for the new model exceeded the company's expectations.", "The airline's passenger numbers hit a record.",
        "The miner boosted output and cut costs.", "Cash flow from operations strengthened considerably.",
        "The utility secured long-term financing on favourable terms.", "Profit before taxes more than doubled.",
    ],
    "negative": [
        "The company swung to a loss as sales collapsed.", "Shares plunged after the profit warning.",
        "Net sales fell 18 percent on weak demand.", "The manufacturer will cut 600 jobs.",
        "The regulator fined the bank for misleading customers.", "Operating loss widened to EUR 9 million.",
        "The retailer cut its guidance for the third time this year.", "Credit losses rose sharply at the lender.",
        "The airline suspended its dividend to preserve cash.", "Investors sued the company over accounting errors.",
        "Order intake dropped to its lowest level in years.", "The plant will close at the end of the year.",
        "Analysts downgraded the stock to sell.", "Margins were squeezed by higher raw material costs.",
        "The group missed revenue estimates by a wide margin.", "The rating agency cut the company's credit rating.",
        "A recall of faulty parts will cost the carmaker 300 million.", "Losses at the shipping unit deepened.",
        "The start-up ran out of cash and filed for bankruptcy.", "Profit before taxes decreased by half.",
    ],
    "neutral": [
        "The annual general meeting will be held on 14 April.", "The company has offices in 12 countries.",
        "The report covers the period from January to March.", "The board proposes the same dividend as last year.",
        "The group employs about 4,000 people.", "Trading in the shares begins on Monday.",
        "The company will publish its interim report on 5 May.", "The new plant is located in northern Finland.",
        "The chief executive will present the results in a webcast.", "The bond matures in 2029.",
        "The merger is subject to approval by the competition authorities.", "Net sales were flat at EUR 210 million.",
        "The company produces paper, pulp and timber.", "The transaction is expected to close in the third quarter.",
        "The shares are listed on the Helsinki stock exchange.", "The company changed its reporting segments.",
        "The figures are unaudited.", "The unit makes components for the automotive industry.",
        "The central bank left its key rate unchanged.", "The contract runs for five years.",
    ],
}

COMPANIES = ["Nordic Paper", "Harbour Logistics", "Aurora Bank", "Kestrel Motors", "Brightwave Software",
             "Pine Energy", "Lakeside Foods", "Granite Shipyards", "Nokia", "Apple", "Tesla", "UPM-Kymmene", "JPMorgan"]
# Every template states a figure: near-identical texts with the same figures would be dropped as duplicates.
TEMPLATES = {
    "positive": [
        "{c} reported quarterly profit up {n} percent on strong demand.", "{c} won a new order worth EUR {n} million.",
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
}


def demo_stream(*, now, days: int = 7, per_hour: int = 6, surge_hours: int = 2, seed: int = 54) -> list[dict]:
    """A week of templated news, ending with a surge of layoff news in the last `surge_hours` hours."""
    rng = random.Random(seed)
    items = []
    start = now - timedelta(days=days)
    hours = days * 24
    for hour in range(hours):
        surge = hour >= hours - surge_hours
        count = per_hour + (14 if surge else 0)
        for k in range(count):
            kind = "layoffs" if surge and k >= per_hour else rng.choices(
                ["positive", "neutral", "negative", "layoffs"], weights=[3, 5, 2, 0.3])[0]
            company = rng.choice(COMPANIES)
            text = rng.choice(TEMPLATES[kind]).format(c=company, n=rng.randint(20, 2000), d=rng.randint(1, 28),
                                                      p=rng.randint(2, 40))
            published = start + timedelta(hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
            items.append({"text": text, "source": rng.choice(["Demo Wire", "Demo Markets", "Demo Blog"]),
                          "published_at": published.isoformat(), "url": f"https://news.example.com/demo/{hour}-{k}"})
    return items


def seed_demo_content(*, stdout) -> None:
    """Idempotent: creates only what is missing."""
    from django.db import transaction
    from django.utils import timezone
    from django.utils.text import slugify

    from .models import AlertRule, Document, LabelledExample, LabelledSet, Ticker, Topic
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
        if not LabelledSet.objects.filter(name="Demo sentences").exists():
            labelled = LabelledSet.objects.create(
                name="Demo sentences", file_name="(written for the demo)", size=sum(map(len, LABELLED.values())),
                label_counts={label: len(texts) for label, texts in LABELLED.items()},
                notes="Hand-written; upload the Financial PhraseBank for a real model")
            LabelledExample.objects.bulk_create([LabelledExample(labelled_set=labelled, text=text, label=label)
                                                 for label, texts in LABELLED.items() for text in texts])
    stdout.write("Finance sentiment: topics, watchlist, an alert rule and a demo labelled set are in place.")

    from apps.core.models import Job, ModelVersion
    from apps.core.scenarios import get_scenario

    scenario = "finance_sentiment.sentiment"
    if not ModelVersion.objects.filter(scenario=scenario).exists() and \
            not Job.objects.filter(scenario=scenario, kind="core.train_classifier").exists():
        job = get_scenario(scenario).retrain(params={"config": {"method": "head"}})
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
