/* codeQ dashboard behaviour, plain JS: the tenant switcher. Page modules below register by data attributes. */
"use strict";
document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    form.addEventListener("change", () => form.submit());
  }
});
