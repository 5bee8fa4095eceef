/* The operator pages' behaviour, plain JS: "select all", buttons that need a selection, and copy buttons.
   Without JS the pages still work: the server answers an empty selection with a clear message, and the
   copy buttons stay hidden (the whole id is in the link's title). */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const boxes = () => document.querySelectorAll('input[name="task_ids"]');
  const needs = document.querySelectorAll("[data-needs-selection]");
  const sync = () => {
    const any = [...boxes()].some((box) => box.checked);
    for (const button of needs) button.disabled = !any;
  };
  for (const all of document.querySelectorAll("[data-select-all]")) {
    all.addEventListener("change", () => {
      for (const box of boxes()) box.checked = all.checked;
      sync();
    });
  }
  for (const box of boxes()) box.addEventListener("change", sync);
  sync();
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const label = button.textContent;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Copy failed";
      }
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }
});
