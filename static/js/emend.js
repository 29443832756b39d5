// Small glue for htmx: CSRF header on every request, error answers shown in the flash area.
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
})();
