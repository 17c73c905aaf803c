/* The AI suite chat widget: one tag on any page.
 *
 *   <script src="https://suite.example.com/static/widget/loader.js" data-site-key="site_..." async></script>
 *
 * Optional attributes: data-context='{"Order Number": "A-1234"}' (values for answer
 * placeholders), data-position="left", data-label="Chat with us", data-frame-url (when the suite
 * is served under another path). It adds a chat bubble and, when opened, an iframe with the chat
 * panel from the suite's server. The page and the panel talk only with postMessage, each to the
 * other's exact origin, and each ignores messages from any other origin or window. When the suite
 * refuses this page (its origin is not one of the site's allowed origins, or the key is unknown),
 * the panel says why in a short note and the browser console tells the site's owner what to do.
 */
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector('script[data-site-key][src*="widget/loader.js"]');
  if (!script || window.__aiSuiteWidgetLoaded) { return; }
  window.__aiSuiteWidgetLoaded = true;

  var siteKey = script.getAttribute("data-site-key");
  var src = new URL(script.src, document.baseURI);
  var serverOrigin = src.origin;
  var frameUrl = new URL(script.getAttribute("data-frame-url") ||
    src.pathname.replace(/static\/widget\/loader\.js$/, "customer-service/widget/frame/"), serverOrigin);
  frameUrl.searchParams.set("key", siteKey || "");
  frameUrl.searchParams.set("origin", window.location.origin);
  var context = {};
  try { context = JSON.parse(script.getAttribute("data-context") || "{}"); } catch (e) { context = {}; }
  var left = script.getAttribute("data-position") === "left";
  var label = script.getAttribute("data-label") || "Chat with us";

  var host = document.createElement("div");
  host.id = "ai-suite-chat";
  host.style.cssText = "position:fixed;bottom:20px;" + (left ? "left" : "right") + ":20px;z-index:2147483000;" +
    "font:14px system-ui,-apple-system,'Segoe UI',Roboto,sans-serif";

  var bubble = document.createElement("button");
  bubble.type = "button";
  bubble.id = "ai-suite-chat-bubble";
  bubble.setAttribute("aria-label", label);
  bubble.setAttribute("aria-expanded", "false");
  bubble.textContent = label;
  bubble.style.cssText = "display:block;margin-left:auto;padding:12px 18px;border:0;border-radius:24px;" +
    "background:#1f4e79;color:#fff;font:inherit;font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)";

  var badge = document.createElement("span");
  badge.style.cssText = "display:none;margin-left:8px;padding:0 7px;border-radius:10px;background:#c0392b;font-size:12px";
  bubble.appendChild(badge);

  var panel = document.createElement("div");
  panel.id = "ai-suite-chat-panel";
  panel.style.cssText = "display:none;width:360px;max-width:calc(100vw - 40px);height:520px;" +
    "max-height:calc(100vh - 100px);margin-bottom:12px;border-radius:12px;overflow:hidden;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.3);background:#fff";

  var frame = null;
  var ready = false;
  var open = false;
  var refusal = null;  // why the suite will not serve the chat to this page

  function toFrame(message) {
    if (frame && ready) { frame.contentWindow.postMessage(message, serverOrigin); }
  }

  function setOpen(value) {
    open = value;
    panel.style.display = open ? "block" : "none";
    bubble.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      if (!frame && refusal === null) {
        frame = document.createElement("iframe");
        frame.id = "ai-suite-chat-frame";
        frame.title = label;
        frame.src = frameUrl.toString();
        frame.style.cssText = "border:0;width:100%;height:100%;display:block";
        frame.setAttribute("referrerpolicy", "origin");
        panel.appendChild(frame);
      }
      badge.style.display = "none";
      toFrame({ type: "ai-suite:open" });
    } else {
      toFrame({ type: "ai-suite:hidden" });
    }
  }

  window.addEventListener("message", function (event) {
    if (!frame || event.origin !== serverOrigin || event.source !== frame.contentWindow) { return; }
    var message = event.data || {};
    if (message.type === "ai-suite:ready") {
      ready = true;
      toFrame({ type: "ai-suite:context", context: context, page: window.location.href });
      toFrame({ type: open ? "ai-suite:open" : "ai-suite:hidden" });
    } else if (message.type === "ai-suite:refused") {
      refuse(String(message.reason || "this page is not allowed"));
    } else if (message.type === "ai-suite:close") {
      setOpen(false);
    } else if (message.type === "ai-suite:unread" && !open) {
      badge.textContent = String(message.count || "");
      badge.style.display = message.count ? "inline-block" : "none";
    }
  });

  function refuse(reason) {
    refusal = reason;
    if (window.console) {
      window.console.warn("AI suite chat is not available on " + window.location.origin + ": " + reason +
        ". The site's owner can add this origin to the site's allowed origins in the suite (Customer service, Sites).");
    }
    panel.removeChild(frame);
    frame = null;
    ready = false;
    var note = document.createElement("p");
    note.id = "ai-suite-chat-refused";
    note.setAttribute("role", "status");
    note.textContent = "Chat unavailable: " + reason + ".";
    note.style.cssText = "margin:0;padding:14px 16px;color:#3d4650;line-height:1.4";
    panel.style.height = "auto";
    panel.appendChild(note);
    bubble.firstChild.nodeValue = "Chat unavailable";
  }

  bubble.addEventListener("click", function () { setOpen(!open); });
  host.appendChild(panel);
  host.appendChild(bubble);
  (document.body || document.documentElement).appendChild(host);
})();
