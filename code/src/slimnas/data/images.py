"""Image reading and the deterministic resize training shares with the runtime (one copy: ``slimnas_runtime.images``)."""

from slimnas_runtime.images import MAX_PIXELS, load_image, normalize, resize, to_rgb

__all__ = ["MAX_PIXELS", "load_image", "normalize", "resize", "to_rgb"]
