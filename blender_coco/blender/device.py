"""Cycles device and denoiser choices that depend on the Blender build and machine.

``--device GPU`` uses the first backend with a device among OptiX, CUDA, HIP, Metal
and oneAPI, or fails with a one-line fix. A Cycles build without OpenImageDenoise
(Debian's Blender 3.4) cannot denoise on the CPU, so denoising is turned off for
the run, and the OptiX denoiser without an OptiX device becomes OpenImageDenoise;
:func:`fix_denoiser` returns the warning line that says so (the render job logs it,
once per run) instead of failing every frame.
"""

from __future__ import annotations

import logging

import bpy

from blender_coco.blender.guard import SettingsGuard
from blender_coco.errors import UserError

log = logging.getLogger(__name__)

GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")


def _cycles_preferences():
    addon = bpy.context.preferences.addons.get("cycles")
    return addon.preferences if addon is not None else None


def use_device(scene, device: str, guard: SettingsGuard) -> str:
    """Set Cycles' device for ``scene``; returns the backend used ("CPU", "CUDA", ...)."""
    if device == "CPU":
        guard.set(scene.cycles, "device", "CPU")
        return "CPU"
    prefs = _cycles_preferences()
    if prefs is None:
        raise UserError("device GPU: the Cycles add-on is not enabled in this Blender; enable it or use {device} CPU", field="device")
    try:
        prefs.refresh_devices()
    except Exception as exc:  # a broken driver raises from inside Cycles
        log.debug("refresh_devices failed: %s", exc)
    for backend in GPU_BACKENDS:
        try:
            devices = list(prefs.get_devices_for_type(backend))
        except Exception:
            continue
        gpus = [d for d in devices if d.type == backend]
        if not gpus:
            continue
        guard.set(prefs, "compute_device_type", backend)
        for d in devices:
            guard.set(d, "use", d.type == backend)
        guard.set(scene.cycles, "device", "GPU")
        log.info("rendering on %s: %s", backend, ", ".join(d.name for d in gpus))
        return backend
    raise UserError(
        "device GPU: Cycles found no OptiX, CUDA, HIP, Metal or oneAPI device on this machine; "
        "install the GPU driver or use {device} CPU", field="device"
    )


def has_openimagedenoise() -> bool:
    """Whether this Cycles build includes OpenImageDenoise (Debian's 3.4 does not)."""
    try:
        import _cycles
    except ImportError:
        return False
    return bool(getattr(_cycles, "with_openimagedenoise", False))


def fix_denoiser(scene, backend: str, guard: SettingsGuard) -> str | None:
    """Keep Cycles denoising only when this build and device can run it; returns the warning
    line naming what changed (None when nothing did)."""
    cycles = scene.cycles
    if not cycles.use_denoising:
        return None
    denoiser = cycles.denoiser
    if denoiser == "OPTIX" and backend == "OPTIX":
        return None
    if has_openimagedenoise():
        if denoiser != "OPENIMAGEDENOISE":
            guard.set(cycles, "denoiser", "OPENIMAGEDENOISE")
            return (f"scene {scene.name!r}: the {denoiser.title()} denoiser needs an OptiX device, this run "
                    f"renders on {backend}: denoising with OpenImageDenoise instead; render on an OptiX GPU "
                    f"for the OptiX denoiser")
        return None
    guard.set(cycles, "use_denoising", False)
    return (f"scene {scene.name!r}: denoising is turned off for this run (Render Properties > Sampling > "
            f"Render > Denoise) because this Blender's Cycles has no OpenImageDenoise; raise the samples for "
            f"less noise, or use a Blender build that has it")
