"""Model kinds, one module per `model.type`: its config schema (a dataclass), its builder,
its custom layers and its KIND (rnnlab.models.registry.ModelKind)."""
