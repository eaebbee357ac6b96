"""The builders of compress's standard variants (TFLite PTQ, ONNX QDQ, tfmot pruning, clustering and QAT,
channel pruning, mixed precision): each is ``build(ctx) -> Built`` and is named by a row of
:data:`edgekit.compression.variants.VARIANTS`. The float parents (pruned, clustered, thinner models) are
built once per run through :meth:`Context.parent` and shared by every variant made from them.

TensorFlow and tfmot are imported by the functions that need them.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.compression.variant import Built


# ------------------------------------------------------------------ the float parents

def pruned(ctx):
    from edgekit.compression.prune import prune

    c = ctx.cfg
    return ctx.parent("prune", lambda: prune(ctx.model, ctx.data, c.sparsity, c.prune_epochs,
                                            batch_size=c.batch_size, learning_rate=c.learning_rate,
                                            allocation=c.prune_allocation, seed=c.seed))


def pruned_2of4(ctx):
    from edgekit.compression.prune import prune

    c = ctx.cfg
    return ctx.parent("prune_2of4", lambda: prune(ctx.model, ctx.data, 0.5, c.prune_epochs, m_by_n=(2, 4),
                                                 batch_size=c.batch_size, learning_rate=c.learning_rate))


def clustered(ctx):
    from edgekit.compression.prune import cluster

    c = ctx.cfg
    return ctx.parent("cluster", lambda: cluster(ctx.model, ctx.data, c.clusters, c.cluster_epochs,
                                                batch_size=c.batch_size, learning_rate=c.learning_rate / 5))


def channel_thin(ctx):
    from edgekit.compression.channel import channel_prune

    c = ctx.cfg

    def make():
        thin, p = channel_prune(ctx.model, c.channel_ratio, ctx.data, c.channel_epochs, c.learning_rate * 2,
                                c.batch_size)
        ctx.channel_plan = p
        return thin

    return ctx.parent("channel", make)


def _qat_parent(ctx, key: str, base, scheme: str):
    from edgekit.compression.prune import fine_tune
    from edgekit.compression.quantize import qat_model

    def make():
        q = qat_model(base, scheme)
        fine_tune(q, ctx.data, ctx.cfg.qat_epochs, learning_rate=ctx.cfg.learning_rate / 5,
                  batch_size=ctx.cfg.batch_size)
        q._edgekit_qat = True
        return q

    return ctx.parent(key, make)


# ------------------------------------------------------------------ the variants

def ptq(precision):
    def build(ctx):
        from edgekit.compression.quantize import tflite_bytes

        path = ctx.write_tflite(f"ptq_{precision}", tflite_bytes(ctx.model, precision, ctx.rep))
        return Built(path, "tflite", precision, "input")

    return build


def onnx_int8(ctx):
    from edgekit.convert import export

    art = export(ctx.model, to="onnx", precision="int8", data=ctx.data, out=ctx.out, name="onnx")
    return Built(Path(art.path), "onnx", "int8", "input")


def int8_of(key, make_parent, precision="int8"):
    def build(ctx):
        from edgekit.compression.quantize import tflite_bytes

        m = make_parent(ctx)
        return Built(ctx.write_tflite(key, tflite_bytes(m, precision, ctx.rep)), "tflite", precision,
                      _parent_key(ctx, m))

    return build


def _parent_key(ctx, m) -> str:
    return next(k for k, v in ctx.parents.items() if v is m)


def qat(key, scheme, base_of):
    def build(ctx):
        from edgekit.compression.quantize import tflite_bytes

        q = _qat_parent(ctx, key, base_of(ctx), scheme)
        notes = {"custom_quantize_configs": getattr(q, "_edgekit_custom_layers", {})}
        return Built(ctx.write_tflite(key, tflite_bytes(q, "qat_int8", ctx.rep)), "tflite", "int8", key, notes)

    return build


def channel_fp32(ctx):
    from edgekit.compression.quantize import tflite_bytes

    thin = channel_thin(ctx)
    notes = {"params": int(thin.count_params()), "input_params": int(ctx.model.count_params()),
             **ctx.channel_plan.summary()}
    return Built(ctx.write_tflite("channel", tflite_bytes(thin, "fp32")), "tflite", "fp32", "channel", notes)


def channel_int8(ctx):
    b = int8_of("channel_int8", channel_thin)(ctx)
    b.notes = {"params": int(ctx.parents["channel"].count_params())}
    return b


def mixed(ctx):
    from edgekit.compression.sensitivity import mixed_precision

    # the layer set is chosen on the selection split; compress measures the file on the test split afterwards
    r = mixed_precision(ctx.model, ctx.rep, ctx.selection_accuracy, ctx.selection_baseline, ctx.cfg.max_drop)
    full = r.tries[0]
    notes = {"float_layers": r.float_layers, "within_budget": r.within_budget, "max_drop": ctx.cfg.max_drop,
             "full_int8_drop": full["drop"], "tries": r.tries, "tries_split": ctx.selection.split,
             "most_sensitive": [{"layer": e.layer, "op": e.op, "rmse_over_scale": round(e.rmse_over_scale, 4)}
                                for e in r.sensitivity[:8]]}
    if not r.within_budget:
        ctx.console.print(f"  mixed: no split fits max_drop {ctx.cfg.max_drop:.3f} on the {ctx.selection.split} "
                          f"split; best drop {r.drop:.4f} with {len(r.float_layers)} float layers")
    return Built(ctx.write_tflite("mixed", r.tflite), "tflite", "mixed_int8_fp32", "input", notes)
