"""Data files (icons, default label tables) read with importlib.resources."""
