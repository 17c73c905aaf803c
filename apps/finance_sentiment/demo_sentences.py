"""The demo's labelled sentences for the first sentiment model, written for this project.

Two sets, kept apart so that the evaluation measures something:
- `demo_training_sentences()`: generated from our own templates (made-up companies, lines of
  business, figures, periods and verbs), balanced over negative / neutral / positive;
- `EVALUATION_SENTENCES`: hand-written sentences in other words, 30 of each label, uploaded as an
  "evaluation only" set. The activation policy judges the first model on them
  (ACTIVATION_MIN_EVAL_PER_CLASS, 20 by default, of each label), so the demo's model goes live by
  the same rule as any other and its page shows the evidence.

None of it comes from the public data sets (the Financial PhraseBank and the others stay in
../shared/data); upload one of those and retrain for a real model.
"""
from __future__ import annotations

import random

DEMO_COMPANIES = [
    "Nordic Paper", "Harbour Logistics", "Aurora Bank", "Kestrel Motors", "Brightwave Software", "Pine Energy",
    "Lakeside Foods", "Granite Shipyards", "Silverline Telecom", "Meridian Steel", "Bluefjord Seafood",
    "Copperfield Mining", "Redwood Retail", "Northstar Airlines", "Vantage Pharma", "Oakmoor Insurance",
    "Helix Biotech", "Summit Packaging", "Tidewater Utilities", "Falcon Defence", "Orchard Beverages",
    "Ironbridge Construction", "Polar Media", "Crescent Chemicals", "Willow Furniture", "Atlas Elevators",
]
BUSINESSES = [
    "paper", "cruise ships", "software subscriptions", "electric cars", "packaging", "mobile networks", "steel",
    "wind turbines", "medical devices", "frozen food", "container shipping", "consumer loans", "elevators",
    "office furniture", "soft drinks", "jet engines", "specialty chemicals", "home insurance",
]
PERIODS = ["the first quarter", "the second quarter", "the third quarter", "the fourth quarter", "the first half",
           "the second half", "the full year"]
YEARS = ["2024", "2025", "2026"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
CITIES = ["Helsinki", "Oslo", "Hamburg", "Rotterdam", "Lyon", "Turin", "Gdansk", "Leeds", "Gothenburg", "Porto"]
EXCHANGES = ["Helsinki", "Stockholm", "Oslo", "Frankfurt", "London", "New York"]

# Slots: {c} company, {cs} its possessive, {c2} another company, {b} line of business, {q} period,
# {y} year, {n} a figure in millions or a head count, {p} a percentage, {d} an amount per share, {k} a small count,
# {day} {month} a date, {city}, {exchange}.
TRAINING_TEMPLATES = {
    "positive": [
        "{cs} operating profit for {q} rose {p} percent to EUR {n} million.",
        "{c} raised its outlook for {y} after strong demand for {b}.",
        "{c} won a contract worth EUR {n} million to supply {b}.",
        "Net sales of {c} increased by {p} percent in {q}.",
        "Shares in {c} gained {p} percent after the company beat analysts' estimates.",
        "{c} lifted its dividend to EUR {d} per share.",
        "Order intake at {c} grew {p} percent, driven by {b}.",
        "{c} returned to profit in {q} as its cost savings took effect.",
        "{c} said its operating margin improved to {p} percent thanks to higher prices.",
        "Analysts upgraded {c} to buy, citing robust cash flow from {b}.",
        "{c} reported record revenue of EUR {n} million for {q}.",
        "{c} expects its profit to grow clearly in {y}.",
        "Strong sales of {b} lifted {cs} earnings per share to EUR {d}.",
        "{c} doubled its net profit in {q} on booming demand for {b}.",
        "{c} will hire {n} new employees as orders for {b} keep rising.",
    ],
    "negative": [
        "{cs} operating profit for {q} fell {p} percent to EUR {n} million.",
        "{c} lowered its outlook for {y}, citing weak demand for {b}.",
        "{c} lost a contract worth EUR {n} million to a competitor.",
        "Net sales of {c} decreased by {p} percent in {q}.",
        "Shares in {c} dropped {p} percent after the company missed analysts' estimates.",
        "{c} cut its dividend to EUR {d} per share.",
        "Order intake at {c} shrank {p} percent as customers put off buying {b}.",
        "{c} swung to a loss in {q} as its costs rose.",
        "{c} said its operating margin narrowed to {p} percent on higher raw material costs.",
        "Analysts downgraded {c} to sell, citing weak cash flow from {b}.",
        "{c} will cut {n} jobs as demand for {b} slumps.",
        "{c} warned that its profit for {y} will fall well short of last year's.",
        "The regulator fined {c} EUR {n} million for breaching market rules.",
        "{c} recalled {n} units of its {b} over a safety defect, at a cost of EUR {d} million.",
        "{cs} net loss widened to EUR {n} million in {q}.",
    ],
    "neutral": [
        "{c} will publish its report for {q} on {day} {month}.",
        "{c} will hold its annual general meeting on {day} {month}.",
        "{c} operates {n} stores in {k} countries.",
        "{c} employs about {n} people in {k} countries.",
        "{c} makes {b} for customers in Europe and Asia.",
        "The shares of {c} are listed on the {exchange} stock exchange.",
        "{c} appointed a new chief financial officer, effective {day} {month}.",
        "{c} said its net sales were unchanged at EUR {n} million.",
        "{c} has its head office in {city}.",
        "From {y}, {c} will report its {b} business as a separate segment.",
        "{c} will present its strategy at a capital markets day in {month}.",
        "The board of {c} proposes a dividend of EUR {d} per share, the same as a year earlier.",
        "{c} and {c2} signed a letter of intent on {b}; no financial terms were disclosed.",
        "{c} moved the date of its report for {q} to {day} {month}.",
        "{cs} chief executive will present the figures for {q} in a webcast at {k} pm.",
    ],
}

# Hand-written, in other words than the templates: the evaluation set that decides activation.
EVALUATION_SENTENCES = {
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
        "Bookings for next season are already well ahead of last year.",
        "The software maker's recurring revenue climbed for the eighth straight quarter.",
        "Investors cheered the surprise buyback of up to 500 million dollars.",
        "The brewery gained market share in every region it serves.",
        "Earnings per share came in at 1.42, comfortably above the consensus.",
        "The lender's bad loans fell to their lowest level since 2008.",
        "Sales of the new headphones have been far better than planned.",
        "The factory is running at full capacity and adding a night shift.",
        "The insurer posted a solid gain in premiums and fewer claims.",
        "Our order book has never been this strong, the chief executive said.",
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
        "The chain will shut forty stores after a disappointing Christmas.",
        "Customers cancelled orders worth 80 million after the delivery delays.",
        "The stock hit a ten-year low as investors fled.",
        "Writedowns on the failed acquisition wiped out the year's earnings.",
        "The group breached a covenant and must renegotiate its loans.",
        "Weak pricing dragged the paper division into the red.",
        "The drug failed its final trial and the company dropped the programme.",
        "Fewer passengers flew with the carrier for the fourth month running.",
        "Its auditors raised doubts about the firm's ability to continue.",
        "A strike halted production at the main smelter for two weeks.",
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
        "The firm was founded in 1921 and is still run by the same family.",
        "Results for the nine months will be released after the market closes.",
        "The company's fiscal year ends on 30 June.",
        "The group sells its products under four brands.",
        "A conference call for analysts starts at 11 am local time.",
        "The figures in this release are in euros unless stated otherwise.",
        "The chairman has been a board member since 2015.",
        "The distribution centre serves shops in three neighbouring countries.",
        "The company's shares trade under the ticker symbol NPAP.",
        "Half of the workforce is based outside the home market.",
    ],
}


def demo_training_sentences(*, per_label: int = 150, seed: int = 17) -> dict[str, list[str]]:
    """`per_label` different sentences of each label from TRAINING_TEMPLATES (deterministic)."""
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    for label, templates in TRAINING_TEMPLATES.items():
        seen: dict[str, None] = {}
        position = 0
        while len(seen) < per_label:
            template = templates[position % len(templates)]  # every template equally often
            position += 1
            company, other = rng.sample(DEMO_COMPANIES, 2)
            possessive = company + ("'" if company.endswith("s") else "'s")
            seen[template.format(
                c=company, cs=possessive, c2=other, b=rng.choice(BUSINESSES), q=rng.choice(PERIODS), y=rng.choice(YEARS),
                n=rng.choice([rng.randint(3, 95), rng.randint(100, 2400)]), p=rng.randint(2, 48),
                d=f"{rng.randint(5, 240) / 100:.2f}", k=rng.randint(2, 11), day=rng.randint(1, 28),
                month=rng.choice(MONTHS), city=rng.choice(CITIES), exchange=rng.choice(EXCHANGES))] = None
        out[label] = list(seen)
    return out
