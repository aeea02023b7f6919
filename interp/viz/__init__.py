"""Plotly figure builders shared by notebooks and the dashboard.

Each module takes plain arrays/dicts (numpy, torch, lists) and returns a
``plotly.graph_objects.Figure``, so a notebook and a dashboard page draw the same
picture from the same data. One module per topic: ``interp.viz.attention``,
``interp.viz.sae``, ``interp.viz.sinks``, ``interp.viz.circuits``,
``interp.viz.graphs`` (attribution graphs), ``interp.viz.probes``; import from the module (``from interp.viz.sinks import
emergence_curves``). Each figure has one builder, in its topic's module: attention
patterns, head grids and every ``[layer, head]`` map (sink rates, head scores,
patching over heads) are ``interp.viz.attention``'s, whichever analysis made them.
``interp.viz.base`` holds what they share (array conversion, token display).
Nothing here loads models or runs; it only draws.
"""
