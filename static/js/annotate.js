// Keyboard labelling for the annotator workbench. Steps are the `[data-step]` label forms in
// page order; one is current. The keys are the person's own (the #annotator-settings JSON that
// the page renders from app/annotations/keys.py; these defaults when a page has none). `?` shows
// them. Labelling a step moves on to the next one unless the person turned that off.
(function () {
  if (window.emendAnnotate) return;
  window.emendAnnotate = true;
  const DEFAULTS = {
    keys: { good: ["1", "+"], neutral: ["2", "0"], bad: ["3", "-"], comment: ["c"], next: ["n", "j"],
            previous: ["p", "k"], submit: ["s"], help: ["?"] },
    advance: true,
  };
  const LABELS = { good: "1", neutral: "0", bad: "-1" };
  let currentId = null;
  let advanceFrom = null; // the step whose label was just given, moved on from once it is saved
  let cached = { elt: null, settings: DEFAULTS };

  // Boosted navigation swaps the body, so the settings are read from the page each time.
  function settings() {
    const elt = document.getElementById("annotator-settings");
    if (!elt) return DEFAULTS;
    if (cached.elt !== elt) {
      try { cached = { elt: elt, settings: JSON.parse(elt.textContent) }; }
      catch (err) { cached = { elt: elt, settings: DEFAULTS }; }
    }
    return cached.settings;
  }
  window.emendAnnotatorKeys = function (action) { return (settings().keys || {})[action] || []; };

  function actionFor(key) {
    const keys = settings().keys || {};
    return Object.keys(keys).find((a) => (keys[a] || []).includes(key)) || null;
  }

  function steps() { return Array.from(document.querySelectorAll("[data-step]")); }

  function current() {
    return steps().find((s) => s.id === currentId) || null;
  }

  function focusStep(step) {
    if (!step) return;
    steps().forEach((s) => s.classList.remove("current"));
    step.classList.add("current");
    currentId = step.id;
    step.focus({ preventScroll: true });
    step.scrollIntoView({ block: "nearest" });
  }

  function move(delta) {
    const all = steps();
    if (!all.length) return;
    const i = all.findIndex((s) => s.id === currentId);
    const next = i < 0 ? all[0] : all[Math.min(all.length - 1, Math.max(0, i + delta))];
    focusStep(next);
  }

  function typing(target) {
    const tag = (target && target.tagName) || "";
    return tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function help() { return document.getElementById("keys-help"); }

  function toggleHelp(show) {
    const overlay = help();
    if (!overlay) return false;
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
    if (!overlay.hidden) {
      const close = overlay.querySelector("[data-close-keys]");
      if (close) close.focus();
    } else {
      const step = current();
      if (step) step.focus({ preventScroll: true });
    }
    return true;
  }

  document.addEventListener("click", function (e) {
    const t = e.target;
    if (t.closest && t.closest("[data-close-keys]")) { toggleHelp(false); return; }
    if (t.id === "keys-help") { toggleHelp(false); return; } // a click on the backdrop
    // A label given (by key or click) moves on once the answer is in, if the person wants that.
    const button = t.closest && t.closest("button[data-label]");
    const step = button && button.closest("[data-step]");
    if (step) advanceFrom = step.id;
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const overlay = help();
    if (overlay && !overlay.hidden) {
      if (e.key === "Escape" || actionFor(e.key) === "help") { e.preventDefault(); toggleHelp(false); }
      return; // the list is in front: no labelling behind it
    }
    if (typing(e.target)) {
      // Keys go into the field; Escape leaves it (back to its step) so the shortcuts work again.
      if (e.key === "Escape") {
        const owner = e.target.closest && e.target.closest("[data-step]");
        e.target.blur();
        if (owner) focusStep(owner);
      }
      return;
    }
    const action = actionFor(e.key);
    if (action === "help") {
      if (toggleHelp(true)) e.preventDefault();
      return;
    }
    if (action === "submit") {
      const submit = document.querySelector("#submit-item button[type=submit]");
      if (submit) { e.preventDefault(); submit.click(); }
      return;
    }
    if (!steps().length) return;
    let step = current();
    if (action in LABELS) {
      if (!step) { move(0); step = current(); }
      const button = step && step.querySelector('button[data-label="' + LABELS[action] + '"]');
      if (button) { e.preventDefault(); button.click(); }
    } else if (action === "next") {
      e.preventDefault(); move(step ? 1 : 0);
    } else if (action === "previous") {
      e.preventDefault(); move(-1);
    } else if (action === "comment") {
      if (!step) { move(0); step = current(); }
      const details = step && step.querySelector("details.label-comment");
      if (details) {
        e.preventDefault();
        details.open = true;
        const area = details.querySelector("textarea");
        if (area) area.focus();
      }
    } else if (e.key === "Escape") {
      if (step) focusStep(step);
    }
  });

  // A click or focus inside a step makes it current.
  document.addEventListener("focusin", function (e) {
    const step = e.target.closest && e.target.closest("[data-step]");
    if (step && step.id !== currentId) {
      steps().forEach((s) => s.classList.remove("current"));
      step.classList.add("current");
      currentId = step.id;
    }
  });

  // A new queue item swapped in (queue.js): nothing is current yet, as after a page load.
  document.addEventListener("emend:item-shown", function () { currentId = null; advanceFrom = null; });

  // After htmx swapped a saved step (or the whole list), keep the same step current, or move on
  // to the next one when that save was a label.
  document.addEventListener("htmx:afterSettle", function (e) {
    const origin = e.detail && e.detail.requestConfig && e.detail.requestConfig.elt;
    const saved = origin && origin.id === advanceFrom ? advanceFrom : null; // this swap is that label's answer
    const ok = e.detail && e.detail.xhr && e.detail.xhr.status < 300;
    const step = currentId && document.getElementById(currentId);
    if (saved && ok && settings().advance !== false && document.getElementById(saved)) {
      advanceFrom = null;
      currentId = saved;
      const all = steps();
      const i = all.findIndex((s) => s.id === saved);
      if (i >= 0 && i < all.length - 1) { focusStep(all[i + 1]); return; }
    }
    if (saved && !ok) advanceFrom = null;
    if (step) {
      step.classList.add("current");
      if (!typing(document.activeElement)) step.focus({ preventScroll: true });
    }
  });
})();
