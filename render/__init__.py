"""VTK pipelines for MedWS: one Visual per model type. Never imports Qt."""
