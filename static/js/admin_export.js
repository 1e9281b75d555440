/* The admin export page's "Select all" toggle, bound here instead of an inline onchange=""
   (refused by the Content-Security-Policy). onSelectToggleChange is django-import-export's. */
document.addEventListener("change", function (event) {
  if (event.target.matches("input.select-toggle") && typeof onSelectToggleChange === "function") {
    onSelectToggleChange(event);
  }
});
