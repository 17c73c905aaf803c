"""Demo knowledge base and site for the customer-service console, written for this project.

A small outdoor-gear shop: thirteen intents, a few example questions each, answers with
placeholders, and a site whose widget works on this server's own pages (Sites → Try it).
Idempotent: seeds only an empty knowledge base, and queues one first training (which also
computes the vectors the knowledge search needs).
"""
from __future__ import annotations

from apps.core.models import Job, ModelVersion

from .models import KBEntry, Site
from .scenario import SCENARIO
from .services.kb import EntryFields, kb_entry_create

DEMO_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")

# (intent, title, answer, questions)
DEMO_ENTRIES = [
    ("track_order", "Where is my order?",
     ("You can follow order {{Order Number}} under Order History in your account: it shows the carrier and the "
      "tracking link as soon as the parcel leaves our warehouse, usually within one working day."),
     ["where is my order", "track my parcel", "has my order shipped yet", "I want to know the status of my delivery",
      "when will my package arrive", "tracking number for my order"]),
    ("cancel_order", "Cancel an order",
     ("Orders can be cancelled until they are packed: open Order History, choose order {{Order Number}} and press "
      "Cancel Order. If the button is gone the parcel is on its way; you can then return it for free."),
     ["cancel my order", "I ordered by mistake, can I cancel", "how do I cancel a purchase",
      "stop my order please", "I want to cancel what I bought yesterday"]),
    ("return_item", "Return an item",
     ("You have 30 days to return unused items. Start the return under Order History → Return items, print the "
      "free label and drop the parcel at any post office. We refund within five working days of receiving it."),
     ["how do I return something", "I want to send back the boots", "return policy",
      "the jacket does not fit, can I return it", "do you offer free returns"]),
    ("refund_status", "Where is my refund?",
     ("Refunds go back to the original payment method within five working days after your return reaches us; "
      "banks may take three more days to show it. Order {{Order Number}} shows the refund date in Order History."),
     ["where is my refund", "I returned an item but got no money back", "how long do refunds take",
      "refund not received", "when will I get my money back"]),
    ("delivery_options", "Delivery options and costs",
     ("Standard delivery takes 2-4 working days and is free above 50 EUR; express delivery arrives the next working "
      "day if you order before 2 pm. You can also collect from a pick-up point."),
     ["what delivery options do you have", "how much is shipping", "do you deliver next day",
      "is shipping free", "can I pick up my parcel at a pick-up point"]),
    ("change_address", "Change the delivery address",
     ("You can change the address of order {{Order Number}} until it is packed: Order History → Edit order → "
      "Shipping Address. For later changes, contact us on {{Customer Support Phone Number}}."),
     ["change my shipping address", "I moved, how do I update the delivery address",
      "wrong address on my order", "can I send the order to another address", "edit delivery address"]),
    ("payment_methods", "Payment methods",
     ("We accept Visa, Mastercard, American Express, PayPal and bank transfer. Payment is taken when the order "
      "ships."),
     ["which payment methods do you accept", "can I pay with PayPal", "do you take credit cards",
      "can I pay by bank transfer", "payment options"]),
    ("payment_problem", "A payment failed",
     ("A declined payment usually means the bank stopped it: check the card details and the limit, or try another "
      "method. Nothing is charged for failed attempts. If it keeps failing, tell us and we will look into it."),
     ["my payment failed", "card declined at checkout", "I was charged twice", "payment did not go through",
      "error when paying"]),
    ("size_guide", "Sizes and fit",
     ("Every product page has a size guide with measurements in centimetres. Our boots run true to size; for "
      "thick socks take half a size up."),
     ["what size should I order", "do your boots run small", "size chart", "how do the jackets fit",
      "I am between two sizes"]),
    ("create_account", "Create an account",
     ("Choose Sign up on {{Website Name}}, enter your e-mail address and a password, and confirm the link we send. "
      "An account keeps your orders, returns and addresses in one place."),
     ["how do I open an account", "sign up", "create a customer account", "register on the website",
      "I want to make an account"]),
    ("reset_password", "Forgotten password",
     ("Choose Sign in → Forgot password on {{Website Name}} and enter your e-mail address: the reset link is valid "
      "for one hour. Check the spam folder if it does not arrive."),
     ["I forgot my password", "reset password", "can't log in to my account", "password reset link not working",
      "how do I change my password"]),
    ("contact_us", "Contact us and opening hours",
     ("You can call us on {{Customer Support Phone Number}} from 8 am to 8 pm, Monday to Saturday, or write to us "
      "through the contact form on {{Website Name}}; we answer e-mails within one working day."),
     ["how can I call you", "customer service phone line", "how do I contact you", "what are your opening hours",
      "is there a number I can ring", "when is customer support open", "how do I get in touch with the shop"]),
    ("contact_human_agent", "Talk to a person",
     ("Of course: I have asked a colleague to join this conversation. Our team answers from 8 am to 8 pm, "
      "Monday to Saturday."),
     ["I want to talk to a human", "can I speak to a person", "connect me to an agent", "real person please",
      "let me talk to customer service staff"]),
]


def seed_demo_content(*, stdout) -> None:
    site, created = Site.objects.get_or_create(
        name="Demo shop", defaults={"allowed_origins": "\n".join(DEMO_ORIGINS),
                                    "placeholder_values": {"Website Name": "northwind-outdoor.example",
                                                           "Customer Support Phone Number": "+44 20 7946 0000"}})
    if created:
        stdout.write(f"Customer service: demo site {site.public_key} (widget on Sites → Try it)")
    if KBEntry.objects.exists():
        return
    for intent, title, answer, questions in DEMO_ENTRIES:
        kb_entry_create(fields=EntryFields.clean(title=title, answer=answer, intent=intent, tags=["demo"]),
                        questions=questions, embed=False)
    stdout.write(f"Customer service: demo knowledge base of {len(DEMO_ENTRIES)} entries")
    if not ModelVersion.objects.filter(scenario=SCENARIO).exists() and not Job.objects.filter(
            scenario=SCENARIO, state__in=Job.ACTIVE_STATES).exists():
        from .services.training import intent_retrain_start

        # The job embeds the knowledge base (the search needs the vectors) and trains the intent model
        # with its open-intent detector. A few questions per intent are too few for the activation
        # policy to judge ("left to a person"), and a demo without a model could only hand over:
        # "always" activates it unless a guard fails.
        job = intent_retrain_start(params={"activate": "always"})
        stdout.write(f"Customer service: queued the first intent-model training ({job.pk})")
