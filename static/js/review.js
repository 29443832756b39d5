// Keyboard review of a run's edits: j/k move, a accept, r reject, e modify, c comment, ? help.
// Loaded by the document page; htmx may load it again on boosted navigation, so it installs once
// and always looks the rows up at key time (rows are replaced by htmx after each decision).
// The page holds a window of the run: moving past the last row fetches the list's next page
// (#list-more), and an edit whose text section is not loaded yet fetches that section.
(function () {
  if (window.emendReview) return;
  window.emendReview = true;

  let currentId = null;
  let pendingStep = 0; // a move waiting for the next page of the list

  function loadMore() {
    const more = document.getElementById("list-more");
    if (!more || !window.htmx) return false;
    if (!more.dataset.requested) {
      more.dataset.requested = "1";
      htmx.trigger(more, "emend:more");
    }
    return true;
  }

  // The text section of the current edit, fetched if it is still a placeholder.
  function loadSectionOf(row) {
    if (!row || !row.dataset.section || !window.htmx) return;
    const section = document.getElementById("section-" + row.dataset.section);
    if (section && section.dataset.loaded === "false" && !section.dataset.requested) {
      section.dataset.requested = "1";
      htmx.trigger(section, "emend:load");
    }
  }

  function rows() {
    return Array.from(document.querySelectorAll("#edit-list .edit-row"));
  }

  function highlight() {
    document.querySelectorAll(".edit-row.current, .edit-mark.current").forEach(function (el) {
      el.classList.remove("current");
    });
    if (currentId === null) return null;
    const row = document.getElementById("edit-" + currentId);
    const mark = document.getElementById("mark-" + currentId);
    if (mark) mark.classList.add("current");
    if (row) row.classList.add("current");
    if (row && !mark) loadSectionOf(row);
    return row;
  }

  function move(step) {
    const list = rows();
    if (!list.length) return;
    let index = list.findIndex(function (row) { return row.dataset.editId === currentId; });
    if (index === -1) {
      // Start at the first undecided edit, else at the top.
      index = step > 0 ? -1 : list.length;
      const pending = list.findIndex(function (row) { return row.dataset.status === "pending"; });
      if (pending !== -1) index = pending - step;
    }
    if (index + step >= list.length && loadMore()) {
      pendingStep = step; // carried on once the next page is in (htmx:afterSettle)
      return;
    }
    index = Math.min(list.length - 1, Math.max(0, index + step));
    currentId = list[index].dataset.editId;
    const row = highlight();
    if (row) row.scrollIntoView({ block: "nearest" });
    const mark = document.getElementById("mark-" + currentId);
    if (mark) mark.scrollIntoView({ block: "nearest" });
  }

  function currentRow() {
    if (currentId === null) move(1);
    return currentId === null ? null : document.getElementById("edit-" + currentId);
  }

  // Click the row's button for `action`, then go on to the next edit (the decided row comes
  // back from the server and keeps its place). Every keyboard decision does this: a, r, and
  // Enter in the modify or comment field.
  function submit(row, action) {
    const button = row && row.querySelector('[data-action="' + action + '"]');
    if (!button) return false;
    button.click();
    const list = rows();
    const index = list.indexOf(row);
    if (index !== -1 && index + 1 < list.length) {
      currentId = list[index + 1].dataset.editId;
      const next = highlight();
      if (next) next.scrollIntoView({ block: "nearest" });
    } else if (index !== -1 && loadMore()) {
      pendingStep = 1;
    }
    return true;
  }

  function press(action) {
    submit(currentRow(), action);
  }

  function helpBox() {
    return document.getElementById("key-help");
  }

  function focusInput(name) {
    const row = currentRow();
    const input = row && row.querySelector('[data-input="' + name + '"]');
    if (!input) return;
    input.focus();
    input.select();
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (!document.getElementById("review")) return;
    const handlers = {
      j: function () { move(1); },
      k: function () { move(-1); },
      a: function () { press("accept"); },
      r: function () { press("reject"); },
      e: function () { focusInput("replacement"); },
      c: function () { focusInput("comment"); },
      "?": function () {
        const help = helpBox();
        if (help) help.hidden = !help.hidden;
      },
      Escape: function () {
        const help = helpBox();
        if (help) help.hidden = true;
      },
    };
    const handler = handlers[e.key];
    if (!handler) return;
    e.preventDefault();
    handler();
  });

  // Escape leaves an input so the shortcuts work again (and closes the help).
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || !typing(e.target) || !e.target.closest("#review")) return;
    e.target.blur();
    const help = helpBox();
    if (help) help.hidden = true;
  });

  // Enter in the modify input means "modify" (not the form's first button, accept); Enter in the
  // comment input sends the comment. Either way the selection goes on to the next edit.
  const ENTER_ACTIONS = { replacement: "modify", comment: "comment" };
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.isComposing) return;
    const input = e.target;
    const action = input.matches && input.matches("[data-input]") && ENTER_ACTIONS[input.dataset.input];
    const row = action && input.closest(".edit-row");
    if (!row || !document.getElementById("review")) return;
    e.preventDefault();
    currentId = row.dataset.editId;
    if (submit(row, action)) input.blur(); // the row is replaced anyway: let the shortcuts work now
  });

  // Clicking an inline mark selects its edit in the list; tapping a row selects it (and shows its tools).
  document.addEventListener("click", function (e) {
    const mark = e.target.closest && e.target.closest(".edit-mark");
    const row = !mark && e.target.closest && e.target.closest(".edit-row");
    if (!mark && !row) return;
    currentId = (mark || row).dataset.editId;
    const current = highlight();
    if (mark && current) current.scrollIntoView({ block: "nearest" });
  });

  // Rows, marks and sections are replaced or fetched: put the highlight back, carry on a move
  // that waited for the next page, and bring a newly loaded current mark into view.
  document.addEventListener("htmx:afterSettle", function (e) {
    const target = e.detail && e.detail.elt;
    highlight();
    if (pendingStep && !(document.getElementById("list-more") || {}).dataset?.requested) {
      const step = pendingStep;
      pendingStep = 0;
      move(step);
    }
    if (target && target.classList && target.classList.contains("doc-section") && currentId !== null) {
      const mark = document.getElementById("mark-" + currentId);
      if (mark && target.contains(mark)) mark.scrollIntoView({ block: "nearest" });
    }
  });
})();
