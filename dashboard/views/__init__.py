"""The merchandiser dashboard's pages, one module per area (each view: the staff gate, a form or
two, selectors and services, a template)."""
