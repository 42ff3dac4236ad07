"""Exact rewrites of an exported ONNX graph into the ops ONNX Runtime runs fastest.

The torch.export-based exporter lowers ``nn.AdaptiveAvgPool2d(1)`` (and an SE block's ``x.mean((2, 3))``) to a
``ReduceMean`` over the spatial axes. ONNX Runtime's blocked (NCHWc) layout has no ReduceMean, so the tensor is
reordered back to the plain layout first — at batch 32 the reorder of the tiny start point's 192×7×7 head cost
more than the mean itself — while ``GlobalAveragePool`` computes the same in the blocked layout. Rewritten,
mobilenetv3_small_like (ten SE squeezes and the head) ran 1.04–1.07× as fast and the tiny space's start point
1.00–1.04× (1 and 2 threads, batch 1 and 32; ``python bench/global_pooling.py``), with the same outputs.
"""

from __future__ import annotations

import onnx
from onnx import helper, numpy_helper


def global_pooling(proto: onnx.ModelProto) -> int:
    """Rewrite, in place, every ``ReduceMean`` over axes (2, 3) of a 4-D tensor into ``GlobalAveragePool`` (and a
    ``Flatten`` where the mean drops those axes). Returns how many were rewritten."""
    graph = proto.graph
    if not any(n.op_type == "ReduceMean" for n in graph.node):
        return 0  # most latency-table pieces: no shape inference to run
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants |= {n.output[0]: numpy_helper.to_array(a.t) for n in graph.node if n.op_type == "Constant"
                  for a in n.attribute if a.name == "value"}
    rank = _ranks(proto)
    done = 0
    for node in list(graph.node):
        if node.op_type != "ReduceMean" or rank.get(node.input[0]) != 4:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1:
            axes = constants.get(node.input[1])
        if axes is None or sorted(int(a) % 4 for a in list(axes)) != [2, 3]:
            continue
        keep = attrs.get("keepdims", 1)
        pooled = node.output[0] if keep else node.output[0] + "_pooled"
        new = [helper.make_node("GlobalAveragePool", [node.input[0]], [pooled], name=node.name + "_global_pool")]
        if not keep:
            new.append(helper.make_node("Flatten", [pooled], [node.output[0]], name=node.name + "_flatten", axis=1))
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for k, n in enumerate(new):
            graph.node.insert(at + k, n)
        done += 1
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for t in [t for t in graph.initializer if t.name not in used]:  # the axes the ReduceMeans took: ORT warns of each
        graph.initializer.remove(t)
    return done


def _ranks(proto: onnx.ModelProto) -> dict[str, int]:
    """Each tensor's rank, where shape inference knows it."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    out = {}
    for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        t = v.type.tensor_type
        if t.HasField("shape"):
            out[v.name] = len(t.shape.dim)
    return out
