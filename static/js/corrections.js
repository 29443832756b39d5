// The correction editor (templates/annotations/_correction_rows.html): every action is a form
// post answered with the editor again (htmx swaps it), so this file only keeps the keyboard
// where the person was: the control named by the editor's data-focus gets the focus after a
// swap, Alt+↑ / Alt+↓ in a row move that row, ←/→ move between the two tabs.
(function () {
  if (window.emendCorrections) return; // the trace body may be swapped in again
  window.emendCorrections = true;

  function restoreFocus(root) {
    if (!root || !root.dataset || !root.dataset.focus) return;
    const target = root.querySelector('[data-focus-key="' + root.dataset.focus + '"]');
    if (target && !target.disabled) target.focus();
  }

  document.addEventListener("htmx:afterSwap", function (e) {
    const root = e.detail.target && e.detail.target.id && e.detail.target.id.startsWith("correction-")
      ? document.getElementById(e.detail.target.id) : null;
    restoreFocus(root);
  });
  document.addEventListener("DOMContentLoaded", function () {
    // A plain (non-htmx) answer renders the whole page with the editor open.
    restoreFocus(document.querySelector("details.correct[open][data-focus]"));
  });

  document.addEventListener("keydown", function (e) {
    const row = e.target.closest && e.target.closest(".correction-row");
    if (row && e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      const verb = e.key === "ArrowUp" ? "up-" : "down-";
      const button = row.querySelector('button[value="' + verb + row.dataset.row + '"]');
      if (button && !button.disabled) {
        e.preventDefault();
        button.click();
      }
      return;
    }
    const tab = e.target.closest && e.target.closest('.correction-form [role="tab"]');
    if (tab && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      const tabs = Array.from(tab.parentElement.querySelectorAll('[role="tab"]'));
      const next = tabs[(tabs.indexOf(tab) + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      e.preventDefault();
      next.focus();
    }
  });
})();
