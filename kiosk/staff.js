// The staff quick-log form: guard against double submits, and switch units without a second tap.
// The server makes a repeated submit harmless anyway (the form carries an idempotency key).

for (const form of document.querySelectorAll("form[data-quick-log]")) {
  const save = form.querySelector("[data-save]");
  form.addEventListener("submit", () => {
    if (!save) return;
    // Disable after the browser has taken the submission, so the first one still goes out.
    setTimeout(() => {
      save.disabled = true;
      save.setAttribute("aria-busy", "true");
    }, 0);
  });
  // Coming back to the page from the browser's history must not leave the button dead.
  window.addEventListener("pageshow", () => {
    if (!save) return;
    save.disabled = false;
    save.removeAttribute("aria-busy");
  });
}

const unitSelect = document.querySelector("[data-unit-select]");
if (unitSelect) {
  // Each unit has its own scale and reasons: reload the form for the chosen one.
  unitSelect.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("unit", unitSelect.value);
    window.location.assign(url.toString());
  });
}
