"""MedWS application layer: document model, IO, tools and controllers (QtCore at most)."""
