"""What every page must pass in a real browser: axe-core finds no serious or critical
accessibility violation, and the visible text shows no raw machine value.

Used by tests/e2e/test_pages_quality.py and by bench/screenshots.py.
"""
from __future__ import annotations

import re
from pathlib import Path

AXE_SCRIPT = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
FAILING_IMPACTS = ("serious", "critical")

# The text a person sees: text nodes that are rendered (not hidden, not inside a closed
# <details>), outside code-like elements where machine text is the point (a command to copy,
# a key, a log). Each text node is one entry, so a value is never glued to its neighbour.
VISIBLE_TEXT = """
({ within, skip }) => {
  const machine = "script, style, noscript, template, code, pre, kbd, samp, textarea, select, [data-machine]";
  const out = [];
  const root = within ? document.querySelector(within) : document.body;
  if (!root) return out;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const parent = node.parentElement;
    if (!text || !parent || parent.closest(machine) || (skip && parent.closest(skip))) continue;
    const closed = parent.closest("details:not([open])");
    if (closed && !parent.closest("summary")) continue;
    if (!parent.checkVisibility({ checkOpacity: false, checkVisibilityCSS: true })) continue;
    out.push(text);
  }
  return out;
}
"""

RAW_PATTERNS = {
    "Python dict": re.compile(r"\{'|\{\""),
    "Python list": re.compile(r"\['|\[\""),
    "None": re.compile(r"\bNone\b"),
    "True/False": re.compile(r"\b(?:True|False)\b"),
    "5+ decimals": re.compile(r"\d\.\d{5,}"),
    "snake_case label": re.compile(r"(?<![\w./:@#-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w./@-])"),
}


def visible_texts(page, *, within: str = "", skip: str = "") -> list[str]:
    """The rendered text nodes of the page (or of the element `within` selects), leaving out the
    elements `skip` selects."""
    return page.evaluate(VISIBLE_TEXT, {"within": within, "skip": skip})


def raw_values(page, *, within: str = "", skip: str = "", allowed: tuple[str, ...] = ()) -> list[str]:
    """Each raw value in the page's visible text, as "kind: 'text'" (the text node, cut short)."""
    found = []
    for text in visible_texts(page, within=within, skip=skip):
        for kind, pattern in RAW_PATTERNS.items():
            for match in pattern.finditer(text):
                if match.group(0) in allowed:
                    continue
                found.append(f"{kind}: {text[:120]!r}")
    return list(dict.fromkeys(found))


def axe_violations(page, *, impacts: tuple[str, ...] = FAILING_IMPACTS) -> list[str]:
    """axe-core's WCAG 2 A/AA violations of the given impacts, one line per rule with its nodes."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # The page's Content-Security-Policy allows only its own scripts: inject through the
        # devtools protocol's script evaluation (not a <script> tag), which CSP does not block.
        page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
      const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
                                          resultTypes: ["violations"] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
    }""")
    return [f"{v['impact']} {v['id']}: {v['help']} at {', '.join(v['nodes'])}"
            for v in result if v["impact"] in impacts]


def console_pages() -> dict[str, list[str]]:
    """The pages of each console, as paths, for the objects in the database now (one of each
    kind of detail page). Reads the ORM: call it where Django is set up."""
    from django.urls import reverse

    from apps.core.models import Job, ModelVersion
    from apps.customer_service.models import Conversation, KBEntry, Site
    from apps.finance_sentiment.models import Alert, AlertRule, Document, IngestBatch, Ticker, Topic
    from apps.recommendation.models import EndUser, Item

    def detail(name: str, queryset, attribute: str = "pk") -> list[str]:
        first = queryset.first()
        return [reverse(name, args=[getattr(first, attribute)])] if first is not None else []

    jobs = []
    for kind in Job.objects.order_by().values_list("kind", flat=True).distinct():
        jobs += detail("job_detail", Job.objects.filter(kind=kind).order_by("-created_at"))
    return {
        "dashboard": [reverse("home")],
        "jobs": [reverse("job_list")] + jobs,
        "registry": [reverse("registry"), reverse("control")]
        + detail("model_version_detail", ModelVersion.objects.order_by("-created_at")),
        "finance": [reverse(f"finance_sentiment:{name}") for name in (
            "index", "document_list", "alert_list", "topic_list", "rule_list", "watchlist", "upload", "models")]
        + detail("finance_sentiment:document_detail", Document.objects.exclude(sentiment="").order_by("-id"))
        + detail("finance_sentiment:alert_detail", Alert.objects.order_by("-id"))
        + detail("finance_sentiment:topic_edit", Topic.objects.order_by("id"))
        + detail("finance_sentiment:rule_edit", AlertRule.objects.order_by("id"))
        + detail("finance_sentiment:ticker_edit", Ticker.objects.order_by("id"))
        + detail("finance_sentiment:batch_detail", IngestBatch.objects.order_by("-id")),
        "finance_feeds": [reverse("finance_sentiment:feed_list")],
        "recommendation": [reverse(f"recommendation:{name}") for name in ("index", "item_list", "user_list")]
        + detail("recommendation:user_detail", EndUser.objects.order_by("id"), "external_id")
        + detail("recommendation:item_detail", Item.objects.order_by("id"), "external_id")
        + detail("recommendation:version_detail",
                 ModelVersion.objects.filter(scenario="recommendation.hybrid").order_by("-version")),
        "customer_service": [reverse(f"customer_service:{name}") for name in (
            "index", "conversation_list", "kb_list", "analytics", "site_list", "settings", "review")]
        + detail("customer_service:conversation_detail", Conversation.objects.order_by("-started_at"))
        + detail("customer_service:kb_entry_edit", KBEntry.objects.order_by("id"))
        + detail("customer_service:site_edit", Site.objects.order_by("id")),
        "errors": ["/no-such-page/"],
    }
