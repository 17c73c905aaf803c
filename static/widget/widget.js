/* The chat panel inside the widget's iframe.
 *
 * It talks to the suite's chat API on its own origin, with the widget token the frame page was
 * given (it names the site and the embedding page's origin). It talks to the embedding page only
 * with postMessage to that page's exact origin, and accepts messages only from it. The
 * conversation id is kept in this origin's localStorage; operators' replies arrive by polling
 * the conversation's history. Texts are inserted with textContent, never as HTML.
 */
(function () {
  "use strict";
  var refused = document.getElementById("chat-refused");
  if (refused) {
    // The suite refused to serve the chat to this page (origin not allowed, unknown key): tell
    // the embedding page why, so that it says so instead of showing a broken frame.
    if (window.parent !== window && refused.dataset.parentOrigin) {
      window.parent.postMessage({ type: "ai-suite:refused", reason: refused.dataset.reason },
                                refused.dataset.parentOrigin);
    }
    return;
  }
  var root = document.getElementById("chat");
  var cfg = root.dataset;
  var parentOrigin = cfg.parentOrigin;
  var storageKey = "ai-suite-chat:" + cfg.siteKey;
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var sendButton = document.getElementById("chat-send");
  var statusLine = document.getElementById("chat-status");
  var state = { conversationId: null, status: "bot", lastId: 0, context: {}, open: false, unread: 0, seen: {},
                sending: false };
  var POLL_WITH_PERSON_MS = 2500;
  var POLL_WITH_BOT_MS = 8000;
  var pollTimer = null;

  try { state.conversationId = window.localStorage.getItem(storageKey); } catch (e) { /* storage blocked */ }

  function toParent(message) {
    if (window.parent !== window) { window.parent.postMessage(message, parentOrigin); }
  }

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function say(text, isError) {
    statusLine.textContent = text || "";
    statusLine.className = "chat-status" + (isError ? " error" : "");
  }

  function api(method, url, body, idempotencyKey) {
    var headers = { "Accept": "application/json", "X-Widget-Token": cfg.token };
    if (body) { headers["Content-Type"] = "application/json"; }
    if (idempotencyKey) { headers["Idempotency-Key"] = idempotencyKey; }
    return fetch(url, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
                        credentials: "omit", cache: "no-store" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) {
            var error = new Error(data.detail || ("the server answered " + response.status));
            error.status = response.status;
            throw error;
          }
          return data;
        });
      });
  }

  /* A write retried once, with the same Idempotency-Key, when the network fails. */
  function write(url, body) {
    var key = uuid();
    return api("POST", url, body, key).catch(function (error) {
      if (error.status) { throw error; }
      return new Promise(function (resolve) { setTimeout(resolve, 800); })
        .then(function () { return api("POST", url, body, key); });
    });
  }

  function remember(conversationId) {
    state.conversationId = conversationId;
    try { window.localStorage.setItem(storageKey, conversationId); } catch (e) { /* storage blocked */ }
  }

  function who(message) {
    if (message.role === "customer") { return "You"; }
    if (message.role === "operator") { return "Support team"; }
    return "Assistant";
  }

  function render(message) {
    if (message.id && state.seen[message.id]) { return; }
    if (message.id) { state.seen[message.id] = true; state.lastId = Math.max(state.lastId, message.id); }
    var item = document.createElement("li");
    item.className = "msg msg-" + message.role;
    if (message.source) { item.dataset.source = message.source; }
    var label = document.createElement("span");
    label.className = "msg-who";
    label.textContent = who(message);
    item.appendChild(label);
    item.appendChild(document.createTextNode(message.text));
    var entries = message.entries || [];
    if (message.role === "assistant" && message.source === "clarify" && entries.length) {
      var options = document.createElement("div");
      options.className = "msg-actions";
      entries.forEach(function (entry) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = entry.title;
        button.addEventListener("click", function () {
          options.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
          button.classList.add("chosen");
          send(entry.title, entry.id);
        });
        options.appendChild(button);
      });
      item.appendChild(options);
    } else if (message.role === "assistant" && message.source === "open") {
      // Outside what the assistant knows: the reply offers a person, one click away.
      var offer = document.createElement("div");
      offer.className = "msg-actions";
      var person = document.createElement("button");
      person.type = "button";
      person.className = "msg-person";
      person.textContent = "Talk to a person";
      person.addEventListener("click", function () {
        person.disabled = true;
        document.getElementById("chat-person").click();
      });
      offer.appendChild(person);
      item.appendChild(offer);
    } else if (message.role === "assistant" && entries.length && message.source !== "handoff") {
      var sources = document.createElement("span");
      sources.className = "msg-sources";
      sources.textContent = "From: " + entries.map(function (e) { return e.title; }).join(" · ");
      item.appendChild(sources);
      item.appendChild(feedbackButtons(message));
    }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    if (!state.open && message.role !== "customer") {
      state.unread += 1;
      toParent({ type: "ai-suite:unread", count: state.unread });
    }
  }

  function feedbackButtons(message) {
    var box = document.createElement("div");
    box.className = "msg-actions";
    [["Helpful", true], ["Not helpful", false]].forEach(function (pair) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = pair[0];
      if (message.feedback === (pair[1] ? "helpful" : "not_helpful")) { button.classList.add("chosen"); }
      button.addEventListener("click", function () {
        // The reply's conversation id proves the vote comes from the customer who holds it.
        write(cfg.feedbackUrl, { site_key: cfg.siteKey, conversation_id: state.conversationId,
                                 message_id: message.id, helpful: pair[1] })
          .then(function () {
            box.querySelectorAll("button").forEach(function (b) { b.classList.remove("chosen"); });
            button.classList.add("chosen");
            say(pair[1] ? "Thanks for telling us." : "Thanks: we will use this to improve. You can also ask for a person.");
          })
          .catch(function (error) { say(error.message, true); });
      });
      box.appendChild(button);
    });
    return box;
  }

  function setStatus(status) {
    state.status = status || "bot";
    if (state.status === "waiting") { say("A colleague will join shortly; you can keep writing."); }
    else if (state.status === "operator") { say("You are talking with our support team."); }
    schedulePoll();
  }

  function send(text, choice) {
    if (state.sending) { return Promise.reject(new Error("still sending")); }
    state.sending = true;
    var body = { site_key: cfg.siteKey, text: text, context: state.context };
    if (state.conversationId) { body.conversation_id = state.conversationId; }
    if (choice) { body.choice = choice; }
    sendButton.disabled = true;
    say("…");
    return write(cfg.chatUrl, body)
      .then(function (data) {
        remember(data.conversation_id);
        render({ id: data.message_id, role: "customer", text: text });
        if (data.reply) { render(Object.assign({ role: "assistant" }, data.reply)); }
        say("");
        setStatus(data.status);
      })
      .catch(function (error) {
        if (error.status === 404) {  // the stored conversation is gone: start a new one
          try { window.localStorage.removeItem(storageKey); } catch (e) { /* ignore */ }
          state.conversationId = null;
        }
        say(error.status === 401 ? "The chat session expired; reload the page." : error.message, true);
        throw error;
      })
      .finally(function () { state.sending = false; sendButton.disabled = false; });
  }

  function historyUrl() {
    return cfg.historyUrl.replace("00000000-0000-0000-0000-000000000000", state.conversationId) +
      "?site_key=" + encodeURIComponent(cfg.siteKey) + (state.lastId ? "&after=" + state.lastId : "");
  }

  function poll() {
    if (!state.conversationId) { return Promise.resolve(); }
    return api("GET", historyUrl())
      .then(function (data) {
        data.messages.forEach(render);
        if (data.status !== state.status) { setStatus(data.status); }
      })
      .catch(function (error) {
        if (error.status === 404) {
          try { window.localStorage.removeItem(storageKey); } catch (e) { /* ignore */ }
          state.conversationId = null;
        }
      });
  }

  function schedulePoll() {
    if (pollTimer) { clearTimeout(pollTimer); }
    if (!state.conversationId) { return; }
    var delay = (state.status === "waiting" || state.status === "operator") ? POLL_WITH_PERSON_MS : POLL_WITH_BOT_MS;
    pollTimer = setTimeout(function () { poll().finally(schedulePoll); }, delay);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || state.sending) { return; }
    send(text).then(function () { input.value = ""; }, function () { /* kept for a retry */ });
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  document.getElementById("chat-close").addEventListener("click", function () { toParent({ type: "ai-suite:close" }); });
  document.getElementById("chat-person").addEventListener("click", function () {
    var ask = state.conversationId ? Promise.resolve() : send("I would like to talk to a person.");
    ask.then(function () {
      return write(cfg.handoffUrl, { site_key: cfg.siteKey, conversation_id: state.conversationId });
    }).then(function (data) {
      if (data.reply) { render(Object.assign({ role: "assistant" }, data.reply)); }
      setStatus(data.status);
    }).catch(function (error) { say(error.message, true); });
  });

  window.addEventListener("message", function (event) {
    if (event.origin !== parentOrigin || event.source !== window.parent) { return; }
    var message = event.data || {};
    if (message.type === "ai-suite:open") {
      state.open = true;
      state.unread = 0;
      input.focus();
    } else if (message.type === "ai-suite:hidden") {
      state.open = false;
    } else if (message.type === "ai-suite:context" && message.context && typeof message.context === "object") {
      state.context = {};
      Object.keys(message.context).slice(0, 20).forEach(function (key) {
        var value = message.context[key];
        if (typeof value === "string" || typeof value === "number") { state.context[String(key)] = String(value); }
      });
    }
  });

  if (cfg.greeting) { render({ role: "assistant", text: cfg.greeting }); }
  poll().finally(function () { schedulePoll(); toParent({ type: "ai-suite:ready" }); });
})();
