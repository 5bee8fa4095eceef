/* The metrics and workers pages stay live: each [data-live-src] element fetches its part of the page
   again every data-live-every ms (only while the tab is visible) and puts the answer in place. */
"use strict";

function follow(root) {
  const every = Number(root.dataset.liveEvery) || 5000;
  let busy = false;
  const refresh = async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(root.dataset.liveSrc, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.ok) {
        root.innerHTML = await response.text();
        root.dataset.liveState = "ok";
      } else {
        root.dataset.liveState = `error ${response.status}`;
      }
    } catch (error) {
      root.dataset.liveState = "offline";
    } finally {
      busy = false;
    }
  };
  setInterval(refresh, every);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const root of document.querySelectorAll("[data-live-src]")) follow(root);
});
