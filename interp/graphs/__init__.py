"""Attribution graphs over transcoder features, on one prompt at a time.

:mod:`~interp.graphs.replacement` freezes the model on a prompt into a linear *local
replacement* (attention patterns and norm scales fixed, MLPs replaced by transcoders
plus error nodes); :mod:`~interp.graphs.attribute` computes every direct effect in it
with batched backward passes (``attribute(model, transcoders, prompt) -> Graph``);
:mod:`~interp.graphs.prune` keeps what carries the influence on the logits;
:mod:`~interp.graphs.paths` reads one target's influences and strongest path;
:mod:`~interp.graphs.run` records a ``graph`` run and :mod:`~interp.graphs.pipeline`
/ ``interp graph`` go from a model spec and a transcoder run to one.
"""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.graphs.attribute": ["AttributionConfig", "Graph", "attribute", "estimate"],
    "interp.graphs.prune": ["Pruned", "influence", "prune"],
    "interp.graphs.paths": ["Path", "influence_on", "logit_node", "strongest_path"],
    "interp.graphs.replacement": ["GraphError", "LocalReplacement", "TranscoderSet"],
    "interp.graphs.run": ["read_graph", "write_graph_run"],
    "interp.graphs.pipeline": ["GraphRunConfig", "graph_pipeline"],
})

__all__ = ["AttributionConfig", "Graph", "GraphError", "GraphRunConfig", "LocalReplacement", "Path", "Pruned",
           "TranscoderSet", "attribute", "estimate", "graph_pipeline", "influence", "influence_on", "logit_node", "prune",
           "read_graph", "strongest_path", "write_graph_run"]
