"""Plotly figure builders shared by notebooks and the dashboard.

Each module takes plain arrays/dicts (numpy, torch, lists) and returns a
``plotly.graph_objects.Figure``, so a notebook and a dashboard page draw the same
picture from the same data. One module per topic: ``interp.viz.attention``,
``interp.viz.sae``, ``interp.viz.sinks``, ``interp.viz.circuits``,
``interp.viz.probes``; import from the module (``from interp.viz.sinks import
sink_heatmap``). Nothing here loads models or runs; it only draws.
"""
