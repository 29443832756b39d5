// Keyboard labelling for the annotator workbench. Steps are the `[data-step]` label forms in
// page order; one is current. 1/+ good, 2/0 neutral, 3/- bad, c comment, n next, p previous.
(function () {
  if (window.emendAnnotate) return;
  window.emendAnnotate = true;
  const KEYS = { "1": "1", "+": "1", "2": "0", "0": "0", "3": "-1", "-": "-1" };
  let currentId = null;

  function steps() { return Array.from(document.querySelectorAll("[data-step]")); }

  function current() {
    const all = steps();
    return all.find((s) => s.id === currentId) || null;
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

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (!steps().length) return;
    if (typing(e.target)) {
      // Keys go into the field; Escape leaves it (back to its step) so the shortcuts work again.
      if (e.key === "Escape") {
        const owner = e.target.closest && e.target.closest("[data-step]");
        e.target.blur();
        if (owner) focusStep(owner);
      }
      return;
    }
    let step = current();
    if (e.key in KEYS) {
      if (!step) { move(0); step = current(); }
      const button = step && step.querySelector('button[data-label="' + KEYS[e.key] + '"]');
      if (button) { e.preventDefault(); button.click(); }
    } else if (e.key === "n" || e.key === "j") {
      e.preventDefault(); move(step ? 1 : 0);
    } else if (e.key === "p" || e.key === "k") {
      e.preventDefault(); move(-1);
    } else if (e.key === "c") {
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

  // After htmx swapped a saved step (or the whole list), keep the same step current.
  document.addEventListener("htmx:afterSettle", function () {
    const step = currentId && document.getElementById(currentId);
    if (step) {
      step.classList.add("current");
      if (!typing(document.activeElement)) step.focus({ preventScroll: true });
    }
  });
})();
