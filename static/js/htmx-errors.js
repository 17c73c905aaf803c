// htmx 2 leaves the page as it was when an answer is an error (4xx/5xx). Inside an element
// marked data-swap-errors the partial's own message is shown instead ("type a text", "this
// version's files are damaged"), as long as it is one of the statuses those partials answer
// with; a 500 or a 404 page is still not swapped in.
const SWAPPED_ERRORS = [400, 403, 409, 503];

document.addEventListener("htmx:beforeSwap", (event) => {
  const detail = event.detail;
  // The event fires on the target; the marked element is the one that asked (a form, a div).
  const asking = detail.requestConfig ? detail.requestConfig.elt : detail.elt;
  if (SWAPPED_ERRORS.includes(detail.xhr.status) && asking && asking.closest("[data-swap-errors]")) {
    detail.shouldSwap = true;
    detail.isError = false;
  }
});
