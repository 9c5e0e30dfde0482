"""A batch of texts that keeps what detectors derive from it.

Several detectors read the same products of a batch (its split, normalised words and their
hashes). The pipeline hands every detector one `PreparedTexts`, and a detector asks for a
product with `prepared(texts, key, make)`: the first asks computes it, the others reuse it.
Any other sequence of texts works too: the product is then computed on each call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class PreparedTexts(list):
    """The texts of one batch, with the products derived from them so far."""

    def __init__(self, texts: Sequence[str]) -> None:
        super().__init__(texts)
        self.products: dict[Hashable, Any] = {}


def prepared(texts: Sequence[str], key: Hashable, make: Callable[[], T]) -> T:
    """The product `key` of these texts: kept on a PreparedTexts, made afresh for any other sequence."""
    products = getattr(texts, "products", None)
    if products is None:
        return make()
    if key not in products:
        products[key] = make()
    return products[key]
