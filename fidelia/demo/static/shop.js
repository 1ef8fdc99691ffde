// The demo shop's behaviour: a cart kept in localStorage, the ecommerce calls, the "for you" slot.
// Every event goes through the snippet's public API, exactly as on a real shop:
//   fidelia("track", type, fields)   fields: product_id, price, quantity, rubrique, order_id, revenue, items, …
// Nothing here builds HTML from strings: names and prices go in with textContent.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("shop-data").textContent);
  const t = data.labels;
  const CART_KEY = "fidelia-demo-cart";
  const money = new Intl.NumberFormat(data.lang === "fr" ? "fr-FR" : "en-IE", { style: "currency", currency: "EUR" });

  // --- the cart: [{product_id, name, price, rubrique, quantity}] -------------------------------------
  function loadCart() {
    try {
      const lines = JSON.parse(localStorage.getItem(CART_KEY) || "[]");
      return Array.isArray(lines) ? lines : [];
    } catch (e) {
      return [];  // storage refused or garbled: an empty cart rather than a broken page
    }
  }

  function saveCart(lines) {
    try {
      localStorage.setItem(CART_KEY, JSON.stringify(lines));
    } catch (e) {
      // storage refused (private mode, quota): the cart lasts as long as the page
    }
    showCount(lines);
  }

  function cartTotal(lines) {
    const cents = lines.reduce((sum, line) => sum + Math.round(line.price * 100) * line.quantity, 0);
    return cents / 100;
  }

  function showCount(lines) {
    const count = lines.reduce((sum, line) => sum + line.quantity, 0);
    document.querySelectorAll("[data-cart-count]").forEach((el) => { el.textContent = String(count); });
  }

  function addToCart(button) {
    const d = button.dataset, price = Number(d.price), lines = loadCart();
    const line = lines.find((l) => l.product_id === d.productId);
    if (line) line.quantity += 1;
    else lines.push({ product_id: d.productId, name: d.name, price: price, rubrique: d.productRubrique, quantity: 1 });
    saveCart(lines);
    fidelia("track", "add_to_cart", { product_id: d.productId, price: price, quantity: 1, rubrique: d.productRubrique });
    button.textContent = t.added;
    setTimeout(() => { button.textContent = t.add_to_cart; }, 1500);
  }

  function removeFromCart(productId) {
    const lines = loadCart(), line = lines.find((l) => l.product_id === productId);
    if (!line) return;
    saveCart(lines.filter((l) => l !== line));
    fidelia("track", "remove_from_cart", {
      product_id: line.product_id, price: line.price, quantity: line.quantity, rubrique: line.rubrique,
    });
  }

  // --- cart and checkout pages -----------------------------------------------------------------------
  function element(tag, text, className) {
    const el = document.createElement(tag);
    if (text !== undefined) el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function cell(content) {
    const td = document.createElement("td");
    td.append(content);
    return td;
  }

  function lineRow(line, removable) {
    const row = document.createElement("tr"), link = element("a", line.name);
    link.href = "/shop/p/" + encodeURIComponent(line.product_id);
    row.append(cell(link), cell(money.format(line.price)), cell(String(line.quantity)));
    if (removable) {
      const button = element("button", t.remove);
      button.type = "button";
      button.dataset.remove = line.product_id;
      row.append(cell(button));
    } else {
      row.append(cell(""));
    }
    return row;
  }

  function renderCart(root, removable) {
    const lines = loadCart(), table = root.querySelector("[data-cart-lines]");
    table.tBodies[0].replaceChildren(...lines.map((line) => lineRow(line, removable)));
    root.querySelector("[data-cart-total]").textContent = money.format(cartTotal(lines));
    table.hidden = !lines.length;
    root.querySelector("[data-cart-empty]").hidden = lines.length > 0;
    root.querySelectorAll("[data-needs-cart]").forEach((el) => { el.hidden = !lines.length; });
  }

  function newOrderId() {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return "D-" + Date.now().toString(36).toUpperCase() + "-" + hex;
  }

  function setUpCheckout(root) {
    renderCart(root, false);
    root.querySelector("[data-checkout-form]").addEventListener("submit", (event) => {
      event.preventDefault();
      const lines = loadCart();
      if (!lines.length) return;
      const order = {
        order_id: newOrderId(),
        revenue: cartTotal(lines),
        items: lines.map((l) => ({ product_id: l.product_id, price: l.price, quantity: l.quantity, rubrique: l.rubrique })),
      };
      fidelia("track", "purchase", order);
      saveCart([]);
      showThanks(order);
      root.hidden = true;
    });
  }

  function showThanks(order) {
    const thanks = document.querySelector("[data-thanks]"), revenue = thanks.querySelector("[data-order-revenue]");
    thanks.querySelector("[data-order-id]").textContent = order.order_id;
    revenue.textContent = money.format(order.revenue);
    revenue.dataset.value = String(order.revenue);
    thanks.hidden = false;
    const survey = thanks.querySelector("[data-survey]");
    survey.addEventListener("submit", (event) => {
      event.preventDefault();
      const answers = new FormData(survey);
      fidelia("track", "survey", { satisfaction: Number(answers.get("satisfaction")), nps: Number(answers.get("nps")) });
      survey.hidden = true;
      thanks.querySelector("[data-survey-thanks]").hidden = false;
    });
  }

  // --- complaint: the topic goes to Fidelia, the free text stays in the browser -------------------------
  function setUpComplaint(form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      fidelia("track", "complaint", { props: { topic: form.elements.topic.value } });
      form.reset();
      form.hidden = true;
      document.querySelector("[data-complaint-thanks]").hidden = false;
    });
  }

  // --- the home page's "for you" slot ----------------------------------------------------------------
  // The server renders best sellers; when the recommender answers for this visitor, its offer replaces
  // them. A 404 (no recommender yet), an error or an empty offer leaves the best sellers in place.
  function loadOffer(slot) {
    // The referrer (a search, a campaign page) helps a visitor without a profile yet.
    const url = "/v1/me/recommendations?slot=" + encodeURIComponent(slot.dataset.slot) + "&n=8" +
      (document.referrer ? "&referrer=" + encodeURIComponent(document.referrer.slice(0, 2000)) : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : null))
      .then((offer) => {
        if (offer && Array.isArray(offer.items) && offer.items.length) showOffer(slot, offer);
      })
      .catch(() => { /* offline or no recommender: keep the best sellers */ });
  }

  function showOffer(slot, offer) {
    const items = offer.items;
    slot.querySelector("[data-for-you]").replaceChildren(...items.map(offerCard));
    slot.querySelector("[data-for-you-note]").hidden = true;
    // The banner of the offer's promotion, if the page has one for it; its text is the page's own.
    slot.querySelectorAll("[data-promotion]").forEach((el) => { el.hidden = el.dataset.promotion !== offer.promotion; });
    slot.dataset.strategy = String(offer.strategy || "");
    slot.dataset.holdout = String(offer.holdout === true);
    slot.dataset.source = "recommendations";
    // Measurement: one impression per offer shown, with what was shown. The best sellers the
    // server rendered are no offer and send none.
    fidelia("track", "reco_impression", {
      props: Object.assign(offerProps(slot), { products: items.map((item) => String(item.product_id)) }),
    });
  }

  // What every reco_* event says about the offer: which slot, which strategy, holdout or not
  // (the holdout's popular baseline is what personalisation is measured against).
  function offerProps(slot) {
    return { slot: slot.dataset.slot, strategy: slot.dataset.strategy, holdout: slot.dataset.holdout === "true" };
  }

  // A click on an offered product (its link or its "add to cart"). The snippet sends it with
  // sendBeacon on the next tick, or at the latest when the page hides, so a click that leaves the
  // page still arrives.
  function trackOfferClick(target, what) {
    const card = target.closest("[data-source='recommendations'] [data-reco-product]");
    if (!card || !target.closest(what)) return;
    fidelia("track", "reco_click", { product_id: card.dataset.recoProduct, props: offerProps(card.closest("[data-slot]")) });
  }

  function offerCard(item) {
    const card = element("li", undefined, "card"), link = element("a"), thumb = element("span", undefined, "thumb");
    const id = String(item.product_id), url = String(item.url || "");
    card.dataset.recoProduct = id;
    // Only same-site paths: a recommendation never turns into a javascript: or off-site link.
    link.href = /^\/(?!\/)/.test(url) ? url : "/shop/p/" + encodeURIComponent(id);
    thumb.style.setProperty("--hue", String(hueOf(id)));
    link.append(thumb, element("span", String(item.name), "name"));
    const meta = element("span", undefined, "meta");
    meta.append(element("span", money.format(Number(item.price)), "price"));
    const button = element("button", t.add_to_cart);
    Object.assign(button.dataset, { addToCart: "", productId: id, name: String(item.name), price: String(item.price),
                                    productRubrique: String(item.rubrique || "") });
    button.type = "button";
    card.append(link, meta);
    if (item.reason) card.append(element("span", String(item.reason), "reason"));
    card.append(button);
    return card;
  }

  function hueOf(productId) {
    // The same colour as the server's placeholder (fidelia/demo/shop.py: product_hue).
    const hue = (parseInt(productId.slice(1, 3), 10) * 36 + parseInt(productId.slice(3), 10)) % 360;
    return Number.isNaN(hue) ? 0 : hue;
  }

  // --- wiring ----------------------------------------------------------------------------------------
  document.addEventListener("click", (event) => {
    trackOfferClick(event.target, "a[href], [data-add-to-cart]");
    const add = event.target.closest("[data-add-to-cart]");
    if (add) addToCart(add);
    const remove = event.target.closest("[data-remove]");
    if (remove) {
      removeFromCart(remove.dataset.remove);
      renderCart(document.querySelector("[data-cart]"), true);
    }
  });
  // A middle click opens the product in a new tab: a click on the offer too.
  document.addEventListener("auxclick", (event) => { if (event.button === 1) trackOfferClick(event.target, "a[href]"); });
  showCount(loadCart());
  const cartPage = document.querySelector("[data-cart]");
  if (cartPage) renderCart(cartPage, true);
  const checkoutPage = document.querySelector("[data-checkout]");
  if (checkoutPage) setUpCheckout(checkoutPage);
  const complaint = document.querySelector("[data-complaint]");
  if (complaint) setUpComplaint(complaint);
  const slot = document.querySelector("[data-slot='home']");
  if (slot) loadOffer(slot);
})();
