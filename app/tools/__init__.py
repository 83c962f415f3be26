"""Editing tools (Slicer Segment Editor parity): interaction logic in voxel space, no Qt, no VTK.

``load_builtin_tools()`` registers the built-ins in :data:`TOOLS`; plug-ins use ``@register_tool``.
``param_specs(tool.params)`` describes a tool's options for a generated panel.
"""

from app.tools.base import (
    TOOLS,
    EditResult,
    ParamSpec,
    Tool,
    ViewState,
    load_builtin_tools,
    param_specs,
    register_tool,
)

__all__ = ["TOOLS", "EditResult", "ParamSpec", "Tool", "ViewState", "load_builtin_tools", "param_specs",
           "register_tool"]
