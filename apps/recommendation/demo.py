"""Demo catalogue, customers and events for the recommendation dashboard, written for this project.

A small shop of films, books, kitchen and outdoor goods, games and audio; a dozen named customers
with recognisable tastes, so the dashboard shows reasons that make sense, and 68 more shoppers
generated from the same kinds of taste. With 80 customers the held-out evaluation has at least
ACTIVATION_MIN_EVAL_USERS (50) test users, so the activation policy decides on the first model
as on any other (no activate=always). Idempotent.
"""
from __future__ import annotations

import datetime as dt
import random

from apps.core.models import Job, ModelVersion

from . import services

# (id, title, description, categories)
DEMO_ITEMS = [
    ("film-snowbound", "Snowbound", "A slow-burning detective story set in a snowbound mountain village.", ["Films", "Crime"]),
    ("film-harbour-lights", "Harbour Lights", "A retired inspector reopens a cold case in a foggy fishing port.", ["Films", "Crime"]),
    ("film-last-signal", "The Last Signal", "A space thriller in which the crew must repair their ship before the storm hits.", ["Films", "Science fiction"]),
    ("film-orbit", "Orbit of Glass", "Two engineers on a lonely research station discover the station is listening.", ["Films", "Science fiction"]),
    ("film-tin-inventor", "The Tin Inventor", "An animated adventure about a young inventor and her talking robot.", ["Films", "Family"]),
    ("film-rival-bakers", "Rival Bakers", "A romantic comedy about two rival bakers in a small seaside town.", ["Films", "Comedy"]),
    ("film-cathedral", "Stone and Light", "A historical drama about the builders of a great cathedral.", ["Films", "Drama"]),
    ("film-three-chefs", "Three Chefs", "A documentary following three chefs as they open a restaurant together.", ["Films", "Documentary", "Cooking"]),
    ("book-balcony-garden", "The Balcony Garden", "A beginner's guide to growing vegetables on a balcony.", ["Books", "Garden"]),
    ("book-sourdough", "Sourdough Every Day", "Bread baking from your first starter to crusty loaves at home.", ["Books", "Cooking"]),
    ("book-night-train", "Night Train to Trieste", "A spy novel of coded letters and a missing diplomat on a sleeper train.", ["Books", "Crime"]),
    ("book-red-planet", "Red Planet Diaries", "Letters home from the first settlers of a dusty, stubborn planet.", ["Books", "Science fiction"]),
    ("book-trail-maps", "Ridge and Valley", "Forty day hikes with maps, altitude profiles and where to camp.", ["Books", "Outdoor"]),
    ("book-spice-road", "The Spice Road Kitchen", "Recipes from the markets along the old spice routes.", ["Books", "Cooking"]),
    ("kitchen-cast-iron", "Cast-iron Skillet 26 cm", "A cast-iron pan that goes from the stove top to the oven.", ["Kitchen"]),
    ("kitchen-espresso", "Espresso Machine with Grinder", "An espresso machine with a built-in grinder and milk frother.", ["Kitchen"]),
    ("kitchen-dutch-oven", "Enamelled Dutch Oven", "A heavy pot for slow stews and baking bread with a crisp crust.", ["Kitchen", "Cooking"]),
    ("kitchen-knife", "Chef's Knife 20 cm", "A forged steel knife balanced for everyday chopping.", ["Kitchen"]),
    ("kitchen-proofing-basket", "Rattan Proofing Basket", "Gives sourdough loaves their spiral pattern while they rise.", ["Kitchen", "Cooking"]),
    ("outdoor-trail-shoe", "Trail-running Shoe", "A lightweight trail-running shoe with a grippy outsole.", ["Outdoor", "Sport"]),
    ("outdoor-headlamp", "Rechargeable Headlamp", "Three hundred lumens and a red light for reading maps at night.", ["Outdoor"]),
    ("outdoor-tent", "Two-person Tent", "A freestanding tent that pitches in five minutes and weighs under two kilos.", ["Outdoor"]),
    ("outdoor-raised-bed", "Cedar Raised Bed", "A raised garden bed for herbs and salad on a patio.", ["Garden", "Outdoor"]),
    ("outdoor-seed-kit", "Herb Seed Kit", "Basil, parsley, chives and thyme seeds with biodegradable pots.", ["Garden"]),
    ("game-lost-cat", "Rooms for a Lost Cat", "A puzzle game where you rotate rooms to guide a lost cat home.", ["Games", "Family"]),
    ("game-star-trader", "Star Trader", "A strategy game of trade routes and treacherous alliances between planets.", ["Games", "Science fiction"]),
    ("game-murder-manor", "Murder at the Manor", "A cooperative board game: question the guests and solve the crime before dawn.", ["Games", "Crime"]),
    ("game-kitchen-rush", "Kitchen Rush", "A frantic party game of cooking orders against the clock.", ["Games", "Cooking", "Family"]),
    ("audio-headset", "Noise-cancelling Headset", "A noise-cancelling headset with thirty hours of battery life.", ["Audio"]),
    ("audio-speaker", "Waterproof Speaker", "A small speaker that survives rain, sand and the bottom of a rucksack.", ["Audio", "Outdoor"]),
    ("audio-audiobook-noir", "Noir Stories, read aloud", "Six hard-boiled detective stories on audiobook.", ["Audio", "Crime"]),
    ("audio-podcast-space", "Deep Space Podcast Box", "A year of interviews with astronomers and astronauts.", ["Audio", "Science fiction"]),
]

# Each customer's tastes: categories they mostly choose from.
DEMO_CUSTOMERS = {
    "demo-ana": ["Cooking", "Kitchen", "Garden"],
    "demo-ben": ["Science fiction", "Games"],
    "demo-chloe": ["Crime", "Books", "Audio"],
    "demo-dev": ["Outdoor", "Sport", "Audio"],
    "demo-eli": ["Family", "Games", "Films"],
    "demo-farah": ["Cooking", "Films", "Documentary"],
    "demo-gus": ["Crime", "Films", "Games"],
    "demo-hana": ["Garden", "Outdoor", "Books"],
    "demo-ivan": ["Science fiction", "Films", "Audio"],
    "demo-jo": ["Kitchen", "Cooking", "Books"],
    "demo-kim": ["Outdoor", "Garden"],
    "demo-lou": ["Crime", "Science fiction", "Books"],
}
KINDS = ["view", "view", "view", "click", "like", "purchase", "rating"]
SEED_ORDER = 10  # its first training takes seconds: queued before the classifiers' minutes
GENERATED_SHOPPERS = 68


def demo_customers() -> dict[str, list[str]]:
    """The named customers and the generated shoppers: each one of the named tastes, with one
    category of it swapped for another now and then (deterministic)."""
    rng = random.Random(11)
    categories = sorted({c for *_rest, cats in DEMO_ITEMS for c in cats})
    customers = dict(DEMO_CUSTOMERS)
    for n in range(1, GENERATED_SHOPPERS + 1):
        tastes = list(rng.choice(list(DEMO_CUSTOMERS.values())))
        if rng.random() < 0.4:
            tastes[rng.randrange(len(tastes))] = rng.choice([c for c in categories if c not in tastes])
        customers[f"demo-shopper-{n:02d}"] = tastes
    return customers


def _demo_events(rng: random.Random, now: dt.datetime, customers: dict[str, list[str]]) -> list[dict]:
    events = []
    for customer, tastes in customers.items():
        liked = [item for item in DEMO_ITEMS if set(item[3]) & set(tastes)]
        other = [item for item in DEMO_ITEMS if item not in liked]
        chosen = rng.sample(liked, min(len(liked), rng.randint(6, 8))) + rng.sample(other, 1)
        for n, (item_id, *_rest) in enumerate(chosen):
            kind = rng.choice(KINDS)
            when = now - dt.timedelta(days=rng.randint(1, 90), minutes=n)
            events.append({
                "user": customer, "item": item_id, "kind": kind, "timestamp": when.isoformat(),
                "value": float(rng.randint(3, 5)) if kind == "rating" else None,
                "event_id": f"demo:{customer}:{item_id}",
            })
    return events


def seed_demo_content(*, stdout) -> None:
    items = [{"id": i, "title": t, "description": d, "categories": c} for i, t, d, c in DEMO_ITEMS]
    result = services.items_upsert(items=items)
    customers = demo_customers()
    users = services.users_upsert(users=[{"id": c, "attributes": {"tastes": t}} for c, t in customers.items()])
    now = dt.datetime(2025, 1, 15, 12, 0, tzinfo=dt.UTC)
    events = services.interactions_record(events=_demo_events(random.Random(7), now, customers))
    stdout.write(f"Recommendation: {result.created} new demo items, {users.created} new customers, "
                 f"{events.created} new events.")
    training = "recommendation.train_recommender"
    if not ModelVersion.objects.filter(scenario=services.SCENARIO).exists() and not Job.objects.filter(
            kind=training, state__in=Job.ACTIVE_STATES).exists():
        job = services.recommender_retrain_start(params={})  # the activation policy decides
        stdout.write(f"Queued the first recommender training ({job.pk}).")
