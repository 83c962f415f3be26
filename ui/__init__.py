"""MedWS widgets and the composition root (``ui.main:main``)."""
