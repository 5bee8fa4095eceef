/* The operator pages' behaviour, plain JS: "select all" and buttons that need a selection.
   Without JS the pages still work: the server answers an empty selection with a clear message. */
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
});
