// Storm's only script. Every page works without it; it only makes a few
// things quicker: the provider search and category links filter in place
// as you type or click, the connector setup dialog opens in place (modal)
// instead of reloading, a connect link's URL is copied with one click,
// and a connect link's page opened in a popup tells its opener the
// outcome (see "Embedding a connect link" in the README).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Provider picker: filter the list as you type.
  var form = document.querySelector("[data-provider-filter]");
  var list = document.querySelector("[data-providers]");
  if (form && list) {
    var input = form.querySelector("input[type=search]");
    var count = form.querySelector("[data-count]");
    var empty = document.querySelector("[data-empty]");
    var items = Array.prototype.slice.call(list.querySelectorAll("li[data-search]"));
    var chips = Array.prototype.slice.call(document.querySelectorAll("a.chip[data-category]"));
    var current = chips.filter(function (a) { return a.getAttribute("aria-current") === "page"; });
    var category = current.length ? current[0].getAttribute("data-category") : "";
    var hidden = form.querySelector("[data-category-input]");
    var filter = function () {
      var q = input.value.trim().toLowerCase();
      var shown = 0;
      items.forEach(function (li) {
        var hit = (q === "" || li.getAttribute("data-search").indexOf(q) !== -1) &&
          (category === "" || (" " + li.getAttribute("data-categories") + " ").indexOf(" " + category + " ") !== -1);
        li.hidden = !hit;
        if (hit) shown++;
      });
      if (count) count.textContent = shown + (shown === 1 ? " provider" : " providers");
      if (empty) empty.hidden = shown !== 0;
    };
    // Category links reload the page without the script; with it they
    // filter in place and keep the typed search.
    chips.forEach(function (a) {
      a.addEventListener("click", function (e) {
        e.preventDefault();
        category = a.getAttribute("data-category");
        chips.forEach(function (b) {
          if (b === a) b.setAttribute("aria-current", "page");
          else b.removeAttribute("aria-current");
        });
        if (hidden) hidden.value = category;
        if (window.history && history.replaceState) history.replaceState(null, "", a.href);
        filter();
      });
    });
    input.addEventListener("input", filter);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      filter();
    });
  }

  // Connector setup dialog: open as a modal dialog (focus stays inside,
  // Escape closes it). The server opens it without a script via ?setup=1.
  document.querySelectorAll("[data-open-dialog]").forEach(function (a) {
    var dialog = document.getElementById(a.getAttribute("data-open-dialog"));
    if (!dialog || typeof dialog.showModal !== "function") return;
    a.addEventListener("click", function (e) {
      e.preventDefault();
      dialog.showModal();
    });
  });
  document.querySelectorAll("dialog[open][data-modal]").forEach(function (dialog) {
    if (typeof dialog.showModal !== "function") return;
    dialog.close();
    dialog.showModal();
  });

  // Copy a connect link: the URL stays visible (and selectable) without
  // the script.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var done = document.querySelector("[data-copied]");
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var shown = function () { if (done) done.hidden = false; };
      input.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(shown, function () {
          if (document.execCommand("copy")) shown();
        });
      } else if (document.execCommand("copy")) {
        shown();
      }
    });
  });

  // A connect link's forms say whether the page has an opener: Storm then
  // answers the outcome with a page that tells the opener, instead of
  // redirecting to return_url.
  if (window.opener) {
    document.querySelectorAll("input[data-opener]").forEach(function (input) { input.value = "1"; });
  }

  // Connected, in a popup: post the outcome to the opener on return_url's
  // origin (exactly that origin, so no other page hears it), then close.
  // A window the browser will not close goes on to return_url.
  var doneBox = document.querySelector("[data-connect-done]");
  if (doneBox) {
    var origin = doneBox.getAttribute("data-origin");
    var next = doneBox.getAttribute("data-return");
    if (window.opener && origin) {
      window.opener.postMessage({
        type: "storm:connect",
        integration: doneBox.getAttribute("data-integration"),
        status: doneBox.getAttribute("data-status")
      }, origin);
      window.close();
    }
    setTimeout(function () { if (next) window.location.replace(next); }, 500);
  }
});
