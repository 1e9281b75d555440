"""The training pipeline: events in, versioned and evaluated models out (see ``services``)."""
