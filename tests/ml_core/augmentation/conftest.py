"""Shared pieces of the augmentation tests: a small labelled set written for these tests."""
import pytest
import torch

from ml_core.augmentation.synonyms import LexiconSynonyms
from ml_core.data import LabelledTexts

TEXTS = {
    "card_arrival": ["My new card has still not arrived.", "Where is the card you sent me last week?",
                     "The card I ordered never came in the post.", "How long does delivery of a new card take?"],
    "refund": ["I want a refund for this purchase.", "Please give my money back for the broken item.",
               "How do I get a refund on my order?", "The shop agreed to refund me, where is it?"],
    "transfer": ["Cancel the transfer I made this morning.", "I sent money to the wrong account by mistake.",
                 "Why is my bank transfer still pending?", "Can I undo a payment to a friend?"],
}
LEXICON = {"card": ["cards", "debit"], "refund": ["reimbursement", "repayment"], "money": ["cash", "funds"],
           "transfer": ["payment", "remittance"], "arrived": ["came", "turned"], "cancel": ["stop", "revoke"],
           "purchase": ["order", "buy"], "account": ["wallet"], "mistake": ["error", "accident"]}


@pytest.fixture
def labelled() -> LabelledTexts:
    texts = [t for group in TEXTS.values() for t in group]
    labels = [label for label, group in TEXTS.items() for _ in group]
    return LabelledTexts(texts, labels, source="written-for-tests")


@pytest.fixture
def lexicon() -> LexiconSynonyms:
    return LexiconSynonyms(LEXICON, source="test lexicon")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a shared CPU the threads' spin-waits cost
    seconds per call: one thread, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
