// Small glue for htmx: CSRF header on every request, error answers shown in the flash area,
// the flash area cleared when the user starts something new, and no double submits.
(function () {
  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  document.addEventListener("htmx:configRequest", function (e) {
    const token = cookie("csrftoken");
    if (token) e.detail.headers["x-csrftoken"] = token;
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) return;
    // Swap 4xx answers too (they carry a readable message, retargeted to #flash by the server).
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "[4]..", swap: true, error: false },
      { code: "[5]..", swap: true, error: true },
    ];
  });

  // The form an htmx request came from. Events about an element that left the page are
  // dispatched again on another one (detail.elt changes), the request config keeps the origin.
  function requestForm(detail) {
    const elt = (detail.requestConfig && detail.requestConfig.elt) || detail.elt;
    return elt && elt.tagName === "FORM" ? elt : null;
  }

  // Double submit: a second submit of a form whose request is still in flight is dropped
  // (htmx would queue it and send it afterwards). Submitting the same form again once the
  // answer is in (the review page's decision forms, label forms) goes through as before.
  const inFlight = new WeakSet();
  document.addEventListener("htmx:confirm", function (e) {
    const form = e.detail.elt;
    const trigger = e.detail.triggeringEvent;
    if (form && form.tagName === "FORM" && trigger && trigger.type === "submit" && inFlight.has(form)) {
      e.preventDefault(); // without calling detail.issueRequest(): the request is dropped
    }
  });
  document.addEventListener("htmx:beforeSend", function (e) {
    const form = requestForm(e.detail);
    if (form) inFlight.add(form);
  });
  ["htmx:afterRequest", "htmx:onLoadError"].forEach(function (name) {
    document.addEventListener(name, function (e) {
      const form = requestForm(e.detail);
      if (form) inFlight.delete(form);
    });
  });

  // A new request from the user clears old messages in the flash area (errors are swapped in
  // there). Polling and load requests (hx-trigger="every …" / "load") have no triggering event
  // and leave it alone, so an error stays until the user does something else.
  document.addEventListener("htmx:beforeSend", function (e) {
    const config = e.detail.requestConfig;
    if (!config || !config.triggeringEvent) return;
    const flash = document.getElementById("flash");
    if (flash) flash.replaceChildren();
  });
})();
