"""VTK pipelines for MedWS: one Visual per model type. Never imports Qt.

Modules
-------
``_vtk``           the only VTK import point (factory overrides, STDThread SMP back-end)
``image_data``     ``VtkImage``: one ImageVolume wrapped once (no copy), shared by every view
``orientation``    which index plane and screen axes each view uses; R/L/A/P/S/I letters (numpy only)
``slice_visual``   ``ImageSliceVisual``: camera-driven ``vtkImageResliceMapper`` slice with W/L
``label_visual``   ``LabelSliceVisual``: a segmentation over the image (fill + outline)
``overlays``       crosshair lines, orientation letters, corner text (2-D props)
``slice_scene``    ``SliceScene``: camera, slices, zoom/pan, display ↔ LPS picking of one 2-D view
``volume_visual``  ``VolumeRenderVisual``: CPU/GPU mapper chosen from the GL renderer; presets
``volume_scene``   ``VolumeScene``: the 3D view (volume, slice-plane outlines, orientation cube)
``capture``        read rendered pixels back, compose views, write PNG atomically

World coordinates are LPS millimetres everywhere. Every visual gets a ``vtkRenderer`` and a
``request_render`` callable, never creates a window, and is used on the GUI thread only.
"""
