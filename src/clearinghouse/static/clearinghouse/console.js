// Console behaviour. No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A fresh idempotency key per form load: a double-click or a resent POST stores one report.
  for (const input of document.querySelectorAll("input[data-fill-uuid]")) {
    if (!input.value && window.crypto && crypto.randomUUID) input.value = crypto.randomUUID();
  }
});

// "Add a turn" asks the server for the next row; tell it which index comes next.
document.addEventListener("htmx:configRequest", (event) => {
  if (event.detail.elt && event.detail.elt.hasAttribute("data-turn-counter")) {
    event.detail.parameters.index = document.querySelectorAll("#turns .turn").length;
  }
});
