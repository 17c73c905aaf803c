// Behaviour that templates declare with data attributes, because the Content-Security-Policy
// allows no inline event handlers (onsubmit=..., onchange=...):
//   <form data-confirm="Delete this entry?">  asks before the form is sent;
//   <select data-autosubmit>                  sends its form when the choice changes.
// Listening on the document also covers content that htmx swaps in later.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

document.addEventListener("change", (event) => {
  const field = event.target;
  if (field.matches("[data-autosubmit]") && field.form) {
    field.form.submit();
  }
});
