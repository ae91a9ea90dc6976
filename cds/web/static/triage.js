// Progressive enhancement of the triage page: it works without this file.
(function () {
  "use strict";
  // A card's link carries the EHR's answers in the fragment, which never reaches a server:
  // take it out of the address bar and the history, then post it to the service.
  var match = /(?:^#|&)prefill=([A-Za-z0-9_-]+)/.exec(window.location.hash);
  var signin = document.getElementById("signin");
  if (match && signin) {  // not signed in yet: the prefill goes with the sign-in
    window.history.replaceState(null, "", window.location.pathname);
    signin.elements.prefill.value = match[1];
    return;
  }
  if (match) {
    window.history.replaceState(null, "", window.location.pathname);
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/triage/resume";
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "prefill";
    field.value = match[1];
    form.appendChild(field);
    document.body.appendChild(form);
    form.submit();
    return;
  }
  function wireCopy() {
    var button = document.getElementById("copy-note");
    var note = document.getElementById("note");
    if (!button || !note || !navigator.clipboard) { return; }
    button.hidden = false;
    button.onclick = function () {
      navigator.clipboard.writeText(note.value).then(function () {
        document.getElementById("copy-status").textContent = "Copied.";
      }, function () {
        document.getElementById("copy-status").textContent = "Copying failed: select the note and copy it.";
      });
    };
  }
  wireCopy();
  document.body.addEventListener("htmx:afterSettle", wireCopy);
  // an answer from the EHR that the nurse changes is no longer the EHR's
  var prefilled = document.querySelector("input[name=_prefilled]");
  document.body.addEventListener("change", function (event) {
    var name = event.target.name;
    if (!prefilled || !name || name === "_prefilled") { return; }
    var paths = prefilled.value.split(" ").filter(function (p) { return p && p !== name; });
    if (paths.length !== prefilled.value.split(" ").filter(Boolean).length) {
      prefilled.value = paths.join(" ");
      var mark = document.querySelector("#q-" + name.replace(/\./g, "-") + " .prefilled");
      if (mark) { mark.remove(); }
    }
  }, true);
})();
