// The queue item page loads the next item before it is needed: once an item is shown, the item
// after it is reserved (a claim like any other) and rendered by POST /queues/Q/prefetch?after=I;
// the page keeps that HTML. Submitting sends the reserved item's id; the server makes it current
// and answers 204 with an `emend:queue-next` event, and the kept HTML is swapped in without a
// page load. Anything else (no reservation yet, the reservation lost) loads /next in full.
(function () {
  if (window.emendQueue) return;
  window.emendQueue = true;
  let kept = null; // {queue, after, item, html}: the item after `after`, rendered
  let asked = null; // "queue:after" of the prefetch in flight or done (nothing to prefetch)

  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }

  function work() { return document.getElementById("queue-work"); }

  // Guidelines stay open beside the item on wide screens; on small ones they start folded.
  function foldGuide(root) {
    if (!window.matchMedia || !window.matchMedia("(max-width: 60rem)").matches) return;
    (root || document).querySelectorAll(".queue-guide details.guide").forEach(function (d) { d.open = false; });
  }

  function prefetch() {
    const w = work();
    if (!w || !w.dataset.item) return;
    const queue = w.dataset.queue;
    const after = w.dataset.item;
    const key = queue + ":" + after;
    if (asked === key) return;
    asked = key;
    kept = null;
    fetch("/queues/" + queue + "/prefetch?after=" + encodeURIComponent(after), {
      method: "POST", credentials: "same-origin",
      headers: { "x-csrftoken": cookie("csrftoken") || "", "HX-Request": "true" },
    }).then(function (r) {
      if (r.status !== 200) return null;
      return r.text().then(function (html) { return { item: r.headers.get("X-Queue-Item"), html: html }; });
    }).then(function (got) {
      const now = work();
      if (!got || !got.item || !now || now.dataset.item !== after) return;
      kept = { queue: queue, after: after, item: got.item, html: got.html };
      now.dataset.prefetched = got.item; // the next item is ready (also what a test waits for)
    }).catch(function () {
      asked = null; // a network blip: try again at the next chance
    });
  }

  // The submit carries the reserved item's id (only if it was rendered for the item on the page).
  document.addEventListener("htmx:configRequest", function (e) {
    const elt = e.detail.elt;
    if (!elt || elt.id !== "submit-item") return;
    const w = work();
    if (kept && w && kept.after === w.dataset.item) e.detail.parameters["prefetched"] = kept.item;
  });

  document.addEventListener("emend:queue-next", function (e) {
    const w = work();
    const item = String((e.detail && e.detail.item) || "");
    if (!w || !kept || kept.item !== item) {
      window.location.assign("/queues/" + (w ? w.dataset.queue : "") + "/next");
      return;
    }
    const template = document.createElement("template");
    template.innerHTML = kept.html.trim();
    const fresh = template.content.querySelector("#queue-work");
    if (!fresh) { window.location.assign("/queues/" + kept.queue + "/next"); return; }
    kept = null;
    w.replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh);
    foldGuide(fresh);
    const count = document.getElementById("queue-submissions");
    if (count && /^\d+$/.test(count.textContent.trim())) count.textContent = String(Number(count.textContent) + 1);
    window.scrollTo(0, 0);
    document.dispatchEvent(new CustomEvent("emend:item-shown", { detail: { item: item } }));
    prefetch();
  });

  function start() { foldGuide(); prefetch(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  // A boosted navigation to the page (the script ran on an earlier page).
  document.addEventListener("htmx:afterSettle", function () { if (work()) prefetch(); });
})();
