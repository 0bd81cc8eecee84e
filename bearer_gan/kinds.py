"""What a run's settings may be: one :class:`Kind` per sort of value (a positive integer, a probability, ...).

:class:`~bearer_gan.config.RunConfig` checks its fields with these, and the command line's argument
types are made from the same entries (:mod:`bearer_gan.flags`), so a flag and a ``RunConfig``
reject the same values with the same words.
"""
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict

__all__ = ['Kind', 'KINDS']


@dataclass(frozen=True)
class Kind:
    """What a field's values may be: ``check(value)`` holds for them, ``says`` words it (``a positive integer``),
    ``type`` turns a flag's text into a value. The CLI's argument types are made from these, so a flag and
    a ``RunConfig`` reject the same values."""
    type: Callable[[str], Any]
    check: Callable[[Any], bool]
    says: str


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_augmentation(value) -> bool:
    from .augment import parse_augment
    try:
        parse_augment(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


KINDS: Dict[str, Kind] = {
    'positive_int': Kind(int, lambda v: _is_int(v) and v >= 1, 'a positive integer'),
    'non_negative_int': Kind(int, lambda v: _is_int(v) and v >= 0, '0 or a positive integer'),
    'positive_float': Kind(float, lambda v: _is_number(v) and v > 0, 'a positive number'),
    'non_negative_float': Kind(float, lambda v: _is_number(v) and v >= 0, '0 or a positive number'),
    'probability': Kind(float, lambda v: _is_number(v) and 0 <= v < 1, 'in [0, 1)'),
    'image_size': Kind(int, lambda v: _is_int(v) and v >= 8, 'at least 8 pixels'),
    'int': Kind(int, _is_int, 'an integer'),
    'text': Kind(str, lambda v: isinstance(v, str) and v != '', 'a non-empty text'),
    'switch': Kind(bool, lambda v: isinstance(v, bool), 'True or False'),
    'augment': Kind(str, _is_augmentation, 'diffaugment or ada, optionally with :operations (translation, cutout, '
                                            'color), e.g. diffaugment:translation,cutout'),
}
