// Fidelia tracking snippet. Served minified at /t.js; this is its readable source.
// Embed (see docs/snippet.md):
//   <script>window.fidelia=window.fidelia||function(){(fidelia.q=fidelia.q||[]).push(arguments)}</script>
//   <script async src="https://shop.example/fidelia/t.js" data-site="demo"></script>
// Calls made before the script loads wait in fidelia.q and run once it is here.
(function (w, d) {
  var s = d.currentScript, q = w.fidelia && w.fidelia.q || [];
  if (!s || w.fidelia && w.fidelia.v) return;
  // Events go next to the script: served first-party under /fidelia/t.js they go to /fidelia/collect.
  var url = s.src.replace(/t\.js(\?.*)?$/, ""), site = s.getAttribute("data-site"), buf = [], last, timer;
  function rub() {
    var m = d.querySelector("meta[name='fidelia:rubrique']"), e = d.querySelector("[data-rubrique]");
    return m ? m.content : e ? e.getAttribute("data-rubrique") : undefined;
  }
  function send() {
    timer = 0;
    if (!buf.length) return;
    post("collect", { site_id: site, events: buf });
    buf = [];
  }
  function post(path, data) {
    var body = JSON.stringify(data);
    // sendBeacon posts text/plain (no CORS preflight) and survives the page unloading.
    if (!(navigator.sendBeacon && navigator.sendBeacon(url + path, body)))
      fetch(url + path, { method: "POST", body: body, keepalive: true, credentials: "include", headers: { "Content-Type": "text/plain" } });
  }
  function track(type, props) {
    var e = { type: type, url: location.href, ts: Date.now() }, k;
    for (k in props) e[k] = props[k];
    if (e.rubrique === undefined) e.rubrique = rub();
    buf.push(e);
    // Events of one task go in one request; 20 per batch stays well under the server's limit.
    if (buf.length >= 20) send(); else timer = timer || setTimeout(send, 0);
  }
  function page() {
    if (location.href === last) return;
    track("pageview", { referrer: last || d.referrer });
    last = location.href;
  }
  function api(cmd, a, b) {
    if (cmd === "track") track(a, b);
    else if (cmd === "page") page();
    else if (cmd === "identify") track("identify", { customer_id: String(a) });
    // The choice is a cookie the server sets (HttpOnly, like the ids): a refusal deletes the ids at once.
    else if (cmd === "consent") { send(); post("consent", { site_id: site, consent: a === "grant" ? "granted" : "refused" }); }
  }
  // SPA navigation: one pageview per route change, after the app has updated the page.
  var push = history.pushState;
  history.pushState = function () { push.apply(this, arguments); setTimeout(page, 0); };
  w.addEventListener("popstate", function () { setTimeout(page, 0); });
  d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") send(); });
  w.fidelia = function () { api.apply(null, arguments); };
  w.fidelia.v = "1";
  page();
  for (var i = 0; i < q.length; i++) api.apply(null, q[i]);
})(window, document);
