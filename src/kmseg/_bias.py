"""Stage 2 — features, for scans: N4 bias-field correction (SimpleITK, the ``med`` extra).

MR intensities drift smoothly across the field of view (coil sensitivity): the same tissue is
brighter near a coil, and k-means then splits it by position. N4 (Tustison et al., 2010)
estimates that multiplicative field and divides it out. It is fitted on a shrunk copy and
applied at full resolution, as ANTs' scripts do: on the shared brain T1 this took 4 s, and
moved the exact k = 3 clustering from Dice GM / WM 0.903 / 0.929 to 0.928 / 0.954 against FSL
FAST (a fit on a copy shrunk 2x, not 4x, took 33 s for 0.926 / 0.952).
"""

from __future__ import annotations

import numpy as np

from ._errors import ParameterError


def bias_corrected(
    values: np.ndarray, inside: np.ndarray, spacing: tuple[float, float, float], *,
    shrink: int, iterations: tuple[int, ...],
) -> np.ndarray:
    """``(I, J, K)`` float32 intensities divided by their N4 bias field, fitted inside the mask.

    The intensities inside the mask must be positive (a multiplicative field of MR
    magnitudes); the caller skips data that are not (CT in HU, z-scored images).
    """
    try:
        import SimpleITK as sitk
    except ImportError:
        raise ParameterError("bias-field correction (--tissue) needs SimpleITK: "
                             "pip install '.[med]'") from None
    # SimpleITK indexes (k, j, i): the arrays go in transposed, and come back so.
    image = sitk.GetImageFromArray(np.ascontiguousarray(values.astype(np.float32).T))
    image.SetSpacing([float(s) for s in spacing])
    mask = sitk.GetImageFromArray(np.ascontiguousarray(inside.astype(np.uint8).T))
    mask.CopyInformation(image)
    fitter = sitk.N4BiasFieldCorrectionImageFilter()
    fitter.SetMaximumNumberOfIterations([int(n) for n in iterations])
    # A thin axis is shrunk less (a 3-slice volume shrunk 4x would have none left).
    factors = [max(1, min(shrink, size // 4)) for size in values.shape]
    try:
        fitter.Execute(sitk.Shrink(image, factors), sitk.Shrink(mask, factors))
        log_field = fitter.GetLogBiasFieldAsImage(image)
    except RuntimeError as error:  # ITK's exceptions: too few voxels to fit a field...
        reason = str(error).strip().splitlines()[-1][:200]
        raise ParameterError(f"bias-field correction failed on this {values.shape} volume "
                             f"({reason}); run without --tissue") from None
    return sitk.GetArrayFromImage(image / sitk.Exp(log_field)).T
