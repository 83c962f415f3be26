"""MedWS widgets and the composition root (``ui.main:main`` → ``ui.gui.run_gui``).

``main_window.MainWindow`` holds the menus, toolbar, docks (``panels``), status bar
(``status_bar``) and the ``view_grid.ViewGrid`` of ``viewport.SliceViewport`` ×3 +
``volume_viewport.VolumeViewport``, all following one ``viewer_state.ViewerState``. Files open through
``loading.LoadController`` (a background Job); ``screenshot`` implements ``medws screenshot``.
"""
