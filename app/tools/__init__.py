"""Editing tools (Slicer Segment Editor parity): interaction logic in voxel space, no Qt, no VTK.

``load_builtin_tools()`` registers the built-ins in :data:`TOOLS`; plug-ins use ``@register_tool``.
"""

from app.tools.base import TOOLS, EditResult, Tool, ViewState, load_builtin_tools, register_tool

__all__ = ["TOOLS", "EditResult", "Tool", "ViewState", "load_builtin_tools", "register_tool"]
