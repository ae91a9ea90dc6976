// Progressive enhancement of the triage page: it works without this file.
(function () {
  "use strict";

  // A card's link carries the EHR's answers in the fragment, which never reaches a server:
  // take it out of the address bar and the history, then post it to the service. True when
  // the page is on its way to the form the link opens.
  function resumePrefill() {
    var match = /(?:^#|&)prefill=([A-Za-z0-9_-]+)/.exec(window.location.hash);
    if (!match) { return false; }
    window.history.replaceState(null, "", window.location.pathname);
    var signin = document.getElementById("signin");
    if (signin) {  // not signed in yet: the prefill goes with the sign-in
      signin.elements.prefill.value = match[1];
      return true;
    }
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
    return true;
  }

  // The note copied is the one of every answer given: an answer typed and followed at once by
  // "Copy the note" sends its update as the button takes the focus, and the note shown then
  // still leaves it out (a triage workflow audit copied ROUTINE without the heart rate of 135
  // that made it an emergency). The copy waits for the updates under way.
  var inFlight = 0;
  var waiting = [];
  function settled() {
    var run = waiting;
    waiting = [];
    run.forEach(function (fn) { fn(); });
  }
  function whenSettled(fn) {
    if (inFlight === 0) { fn(); } else { waiting.push(fn); }
  }
  function wireUpdates() {
    document.body.addEventListener("htmx:beforeRequest", function () { inFlight += 1; });
    document.body.addEventListener("htmx:afterRequest", function (event) {
      inFlight = Math.max(0, inFlight - 1);
      // a failed update swaps nothing, so no settle follows it
      if (inFlight === 0 && !event.detail.successful) { settled(); }
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      if (inFlight === 0) { settled(); }
    });
  }

  function copyNote() {
    var note = document.getElementById("note");
    function say(text) {
      var status = document.getElementById("copy-status");
      if (status) { status.textContent = text; }
    }
    navigator.clipboard.writeText(note.value).then(function () {
      // read once the copy is done: htmx reports a failed update (sendError, timeout) after
      // the afterRequest that let the copy go, so the warning is up by now
      var stale = document.getElementById("stale");
      var outOfDate = stale && !stale.hidden;
      say(outOfDate ? "Copied, but the note leaves out your latest answers: the last update failed." : "Copied.");
    }, function () {
      say("Copying failed: select the note and copy it.");
    });
  }

  function wireCopy() {
    var button = document.getElementById("copy-note");
    if (!button || !document.getElementById("note") || !navigator.clipboard) { return; }
    button.hidden = false;
    button.onclick = function () { whenSettled(copyNote); };
  }

  // A live update that fails leaves the banner as it was: say so, loudly, until one succeeds.
  // A level that leaves out the last answers must never pass for the current one.
  function wireStale() {
    var stale = document.getElementById("stale");
    if (!stale) { return; }
    var OUT_OF_DATE = "The level shown leaves out your latest answers. ";
    function markStale(text) {
      stale.textContent = text;
      stale.hidden = false;
      var banner = document.getElementById("banner");
      if (banner) { banner.classList.add("is-stale"); }
      document.title = "Out of date: Back pain triage";
    }
    document.body.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr.status;
      markStale(status === 401
        ? "Your sign-in has ended. " + OUT_OF_DATE + "Press Update the triage to sign in again; your answers are kept."
        : "The last update failed (the service answered " + status + "). " + OUT_OF_DATE + "Press Update the triage.");
    });
    document.body.addEventListener("htmx:sendError", function () {
      markStale("The service could not be reached. " + OUT_OF_DATE + "Press Update the triage when the connection is back.");
    });
    document.body.addEventListener("htmx:timeout", function () {
      markStale("The service did not answer in time. " + OUT_OF_DATE + "Press Update the triage.");
    });
    document.body.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.successful) { stale.hidden = true; stale.textContent = ""; }
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      var banner = document.getElementById("banner");  // a new one: failed updates swap nothing
      if (banner && stale.hidden) { document.title = banner.getAttribute("data-title") || document.title; }
    });
  }

  // A call's answers live only in this page: reload, Back or closing the tab would lose them
  // without a word. The browser asks first while any answer is given; "Update the triage" does not.
  function wireLeaving() {
    var answers = document.querySelector("form[hx-post]");
    if (!answers) { return; }
    var submitting = false;
    function hasAnswers() {
      return Array.prototype.some.call(answers.elements, function (e) {
        if (e.type === "text") { return e.value.trim() !== ""; }
        return (e.type === "radio" || e.type === "checkbox") && e.checked && e.value !== "";
      });
    }
    answers.addEventListener("submit", function () { submitting = true; });
    window.addEventListener("beforeunload", function (event) {
      if (!submitting && hasAnswers()) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  }

  // Enter in an answer commits it (the live update), as leaving the box does; it submitted the
  // whole page, which came back with the focus at its top, 89 questions away (a triage
  // workflow audit). "Update the triage" still posts the page.
  function wireEnter() {
    var answers = document.querySelector("form[hx-post]");
    if (!answers) { return; }
    answers.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.key !== "Enter" || target.tagName !== "INPUT" || target.type === "submit") { return; }
      event.preventDefault();
      if (target.type === "text") {
        // a change only if the value changed, as leaving the box: Enter on an EHR answer left as
        // it was must not make it the caller's
        target.blur();
        target.focus();
      }
    });
  }

  // an answer from the EHR that the nurse changes is no longer the EHR's
  function wirePrefilledMarks() {
    var prefilled = document.querySelector("input[name=_prefilled]");
    if (!prefilled) { return; }
    document.body.addEventListener("change", function (event) {
      var name = event.target.name;
      if (!name || name === "_prefilled") { return; }
      var paths = prefilled.value.split(" ").filter(function (p) { return p && p !== name; });
      if (paths.length !== prefilled.value.split(" ").filter(Boolean).length) {
        prefilled.value = paths.join(" ");
        var mark = document.querySelector("#q-" + name.replace(/\./g, "-") + " .prefilled");
        if (mark) { mark.remove(); }
      }
    }, true);
  }

  // A screen reader announces an alert each time one is put in the page, and every update puts
  // the banner and the error summary back: an emergency or a problem was announced again at
  // each answer (a triage workflow audit). A part that comes back as it was is left in place;
  // one that changed keeps an alert's role only where the alert's own words changed.
  function wireQuietRepeats() {
    document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
      var current = event.detail.target;
      var fresh = event.detail.fragment.firstElementChild;
      if (!fresh || (current.id !== "banner" && current.id !== "errors")) { return; }
      // compared without the roles of alerts whose words are unchanged: once one has lost its
      // role, every later update would otherwise differ from it and be put back
      var unchanged = current.cloneNode(true);
      Array.prototype.forEach.call(fresh.querySelectorAll("[role=alert]"), function (alert) {
        var part = "." + alert.classList[0];
        var before = current.querySelector(part);
        if (before && before.textContent === alert.textContent) {
          alert.removeAttribute("role");
          unchanged.querySelector(part).removeAttribute("role");
        }
      });
      if (fresh.isEqualNode(unchanged)) { event.detail.shouldSwap = false; }
    });
  }

  if (resumePrefill()) { return; }
  wireQuietRepeats();
  wireUpdates();
  wireCopy();
  document.body.addEventListener("htmx:afterSettle", wireCopy);
  wireStale();
  wireLeaving();
  wireEnter();
  wirePrefilledMarks();
})();
