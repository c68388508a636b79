// The reply and new-message forms: DLT template picker with one input per {#var#}, a live
// preview, and a live character and segment counter (GSM-7 or Unicode, as Exotel counts them).
(function () {
  "use strict";
  var SLOT = "{#var#}";
  var GSM7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXTENDED = "^{}\\[~]|€\f";

  function analyse(text) {
    var units = 0, unicode = false;
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (GSM7.indexOf(ch) >= 0) { units += 1; }
      else if (GSM7_EXTENDED.indexOf(ch) >= 0) { units += 2; }
      else { unicode = true; break; }
    }
    if (unicode) {
      units = Array.from(text).reduce(function (n, c) { return n + (c.length > 1 ? 2 : 1); }, 0);
      return { encoding: "Unicode", length: units, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
    }
    return { encoding: "GSM-7", length: units, segments: units <= 160 ? 1 : Math.ceil(units / 153) };
  }

  function setUp(form) {
    var picker = form.querySelector("[data-compose-template]");
    var varsBox = form.querySelector("[data-compose-variables]");
    var inputs = form.querySelector("[data-compose-inputs]");
    var free = form.querySelector("[data-compose-free]");
    var body = form.querySelector("[data-compose-body]");
    var previewBox = form.querySelector("[data-compose-preview-box]");
    var preview = form.querySelector("[data-compose-preview]");
    var counter = form.querySelector("[data-compose-counter]");
    var saved = JSON.parse((document.getElementById("compose-variables") || {}).textContent || "[]");

    function templateBody() {
      var option = picker.options[picker.selectedIndex];
      return option && option.value ? option.getAttribute("data-body") : null;
    }

    function buildInputs() {
      var text = templateBody();
      inputs.textContent = "";
      varsBox.hidden = !text;
      free.hidden = !!text;
      previewBox.hidden = !text;
      if (!text) { return; }
      var slots = text.split(SLOT).length - 1;
      for (var i = 0; i < slots; i++) {
        var row = document.createElement("div");
        row.className = "variable";
        var label = document.createElement("label");
        var input = document.createElement("input");
        input.name = "variables";
        input.id = form.id + "-variable-" + (i + 1);
        input.maxLength = 30;
        input.required = true;
        input.value = saved[i] || "";
        label.htmlFor = input.id;
        label.textContent = "Variable " + (i + 1);
        row.appendChild(label);
        row.appendChild(input);
        inputs.appendChild(row);
      }
      saved = [];
    }

    function currentText() {
      var text = templateBody();
      if (!text) { return body.value; }
      var values = Array.prototype.map.call(inputs.querySelectorAll("input"), function (el) {
        return el.value || "\u2026";
      });
      var parts = text.split(SLOT);
      return parts.reduce(function (out, part, i) { return out + (i ? values[i - 1] : "") + part; }, "");
    }

    function update() {
      var text = currentText();
      preview.textContent = text;  // textContent: never parsed as HTML
      var a = analyse(text);
      counter.textContent = a.length + " characters · " + a.segments + " SMS · " + a.encoding;
      counter.classList.toggle("over", text.length > 2000);
    }

    picker.addEventListener("change", function () { buildInputs(); update(); });
    form.addEventListener("input", update);
    form.addEventListener("keydown", function (event) {
      // Ctrl+Enter (Cmd+Enter on a Mac) sends, as in most chat tools.
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        var send = form.querySelector("button[type=submit]");
        if (!send || !send.disabled) { form.requestSubmit(); }
      }
    });
    buildInputs();
    update();
    setUpReplyLock(form);
  }

  // "Asha is replying": while this person writes, a heartbeat takes and renews the reply lock;
  // when someone else holds it, the banner says who and the send button waits.
  function setUpReplyLock(form) {
    var url = form.getAttribute("data-replying-url");
    if (!url) { return; }
    var seconds = Number(form.getAttribute("data-lock-seconds")) || 30;
    var every = Math.max(1000, seconds * 1000 / 3);
    var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    var send = form.querySelector("button[type=submit]");
    var lastBeat = 0, lastInput = 0, holding = false;

    function post(fields) {
      var data = new FormData();
      data.append("csrfmiddlewaretoken", token);
      Object.keys(fields).forEach(function (key) { data.append(key, fields[key]); });
      return fetch(url, {
        method: "POST", body: data, credentials: "same-origin", headers: { "HX-Request": "true" }
      });
    }

    function show(holder) {
      var banner = document.getElementById("reply-lock");
      if (banner) {
        banner.hidden = !holder;
        banner.setAttribute("data-holder", holder || "");
        banner.textContent = holder ?
          holder + " is replying. You can send once they have sent (or stopped writing)." : "";
      }
      send.disabled = !!holder || form.querySelector("fieldset").disabled;
    }

    function beat() {
      lastBeat = Date.now();
      post({}).then(function (response) {
        if (response.status === 401) {  // the session expired: to the login page, whole
          window.location.href = response.headers.get("HX-Redirect") || "/accounts/login/";
          return null;
        }
        return response.ok ? response.json() : null;
      }).then(function (answer) {
        if (!answer) { return; }
        holding = answer.mine;
        show(answer.holder);
      }).catch(function () { /* offline for a moment: the next beat tries again */ });
    }

    form.addEventListener("input", function () {
      lastInput = Date.now();
      if (Date.now() - lastBeat > every) { beat(); }
    });
    // Renew while the person is still writing; an idle box lets the lock expire.
    window.setInterval(function () {
      if (Date.now() - lastInput < seconds * 1000) { beat(); }
    }, every);
    form.addEventListener("submit", function () { holding = false; });
    window.addEventListener("pagehide", function () {
      if (!holding || !navigator.sendBeacon) { return; }
      var data = new FormData();
      data.append("csrfmiddlewaretoken", token);
      data.append("release", "1");
      navigator.sendBeacon(url, data);
    });
    // The thread's polling brings the banner along (out of band): follow it.
    document.body.addEventListener("htmx:oobAfterSwap", function () {
      var banner = document.getElementById("reply-lock");
      if (banner) { show(banner.getAttribute("data-holder")); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-compose]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].id = forms[i].id || "compose-" + i;
      setUp(forms[i]);
    }
  });
})();
