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
        form.requestSubmit();
      }
    });
    buildInputs();
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-compose]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].id = forms[i].id || "compose-" + i;
      setUp(forms[i]);
    }
  });
})();
