"""scikit-learn's estimator protocol, for :class:`~kmseg.KMeansSegmenter` to inherit, as
scikit-learn's own estimators inherit ``BaseEstimator``: ``get_params`` and ``set_params``
over the parameters of the rules table (:mod:`kmseg._validation`), ``__repr__`` naming the
ones that differ from the defaults, and the tags scikit-learn reads. scikit-learn itself is
imported only when it asks for the tags.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from ._errors import ParameterError
from ._options import DEFAULT_K
from ._validation import _PARAMETER_RULES

E = TypeVar("E", bound="SegmenterParams")


class SegmenterParams:
    """Parameters of a segmenter, held as attributes named as in the rules table."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters as given to the constructor (scikit-learn's estimator API).

        ``deep`` is accepted for :func:`sklearn.base.clone` and pipelines; a segmenter holds no
        nested estimator, so it changes nothing.
        """
        return {name: getattr(self, name) for name in _PARAMETER_RULES}

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags (its ``Pipeline``, ``clone`` and ``is_clusterer`` read them): a
        clusterer of images, ``(M, N[, C])`` arrays or files, that must be fitted first.
        scikit-learn is imported only when scikit-learn asks."""
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type="clusterer", target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=True, three_d_array=True))

    def __repr__(self) -> str:
        """``KMeansSegmenter(k=6, space='lab')``: the parameters that differ from the
        defaults, as scikit-learn prints estimators."""
        defaults = type(self)(k=DEFAULT_K).get_params()
        changed = [f"{name}={_short_repr(value)}" for name, value in self.get_params().items()
                   if not _same_value(value, defaults[name])]
        return f"{type(self).__name__}({', '.join(changed)})"

    def set_params(self: E, **params: Any) -> E:
        """Change parameters (checked at the next fit); returns ``self``.

        Raises
        ------
        ParameterError
            A name that is not a parameter.
        """
        for name, value in params.items():
            if name not in _PARAMETER_RULES:
                raise ParameterError(f"{name!r} is not a KMeansSegmenter parameter; use one of "
                                     f"{', '.join(_PARAMETER_RULES)}")
            setattr(self, name, value)
        return self


def _same_value(value: Any, default: Any) -> bool:
    """Whether a parameter still holds its default (arrays never do)."""
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    return type(value) is type(default) and value == default


def _short_repr(value: Any) -> str:
    """A parameter for a one-line repr: arrays by their shape, not their values."""
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    return repr(value)
