// An unsaved comment in a label widget is never dropped without asking: moving on with n/p/j/k
// offers to save it, and leaving the page (a link, another form, reload) asks first.
(function () {
  if (window.emendUnsaved) return;
  window.emendUnsaved = true;
  const FIELDS = ".label-form textarea";

  function dirty(root) {
    return Array.from((root || document).querySelectorAll(FIELDS)).filter(function (t) {
      return t.value !== t.defaultValue;
    });
  }

  function typing(target) {
    const tag = (target && target.tagName) || "";
    return tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function saveButton(form) {
    return form.querySelector("details.label-comment button[type=submit]");
  }

  // Capture phase: runs before the labelling keys of annotate.js move to another step.
  window.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    // The person's own next/previous keys (annotate.js reads their bindings), else the defaults.
    const own = window.emendAnnotatorKeys;
    const moves = own ? own("next").concat(own("previous")) : ["n", "p", "j", "k"];
    if (!moves.includes(e.key)) return;
    const step = document.querySelector(".label-form.current");
    if (!step || !dirty(step).length) return;
    if (window.confirm("The comment on this step is not saved. Save it before moving on?")) {
      const button = saveButton(step);
      if (button) button.click();
    }
  }, true);

  // Navigation through htmx (boosted links and forms swap the body; the queue's submit form
  // is marked data-leaves-page) from outside the widget that holds the unsaved text. Polling
  // has no triggering event and is let through.
  document.addEventListener("htmx:confirm", function (e) {
    const elt = e.detail.elt;
    if (!e.detail.triggeringEvent || !elt || !elt.closest) return;
    const leaves = e.detail.target === document.body || elt.closest("[data-leaves-page]");
    if (!leaves) return;
    const unsaved = dirty();
    if (!unsaved.length) return;
    if (!window.confirm("A comment is not saved yet. Leave it unsaved and go on?")) {
      e.preventDefault();
      unsaved[0].focus();
    } else {
      unsaved.forEach(function (t) { t.defaultValue = t.value; }); // asked once, not again on unload
    }
  });

  window.addEventListener("beforeunload", function (e) {
    if (dirty().length) { e.preventDefault(); e.returnValue = ""; }
  });
})();
