"""Answers whose placeholders have no value read naturally (issue 18, item 6): customers read
"choose order [Order Number]" when the order number was unknown."""
import pytest

from apps.customer_service.placeholders import render_answer


@pytest.mark.parametrize("template, unknown, known", [
    ("Open Order History, choose order {{Order Number}} and press Cancel.",
     "Open Order History, choose your order and press Cancel.",
     "Open Order History, choose order A-1234 and press Cancel."),
    ("It may take three days. Order {{Order Number}} shows the refund date.",
     "It may take three days. Your order shows the refund date.",
     "It may take three days. Order A-1234 shows the refund date."),
    ("You can change the address of the order #{{Order Number}} until it is packed.",
     "You can change the address of the order until it is packed.",
     "You can change the address of the order #A-1234 until it is packed."),
    ("Quote invoice no. {{Invoice Number}} or purchase {{Purchase ID}}.",
     "Quote your invoice number or your purchase.", "Quote your invoice number or purchase A-1234."),
    ("Log in to {{Website Name}} and call {{Customer Support Phone Number}}.",
     "Log in to our website and call our customer support phone number.",
     "Log in to shop.example and call our customer support phone number."),
    ("Hello {{Client First Name}}, quote {{Order Number Anonymized}} under {{Order History}}.",
     "Hello, quote your order number under Order History.", "Hello, quote A-1234 under Order History."),
])
def test_a_missing_value_is_rephrased_and_a_known_one_filled(template, unknown, known):
    assert render_answer(template) == unknown
    assert render_answer(template, {"order id": "A-1234"}, {"Website Name": "shop.example"}) == known
    assert "[" not in render_answer(template) and "{{" not in render_answer(template)
