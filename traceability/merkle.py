"""An append-only Merkle log in the manner of Certificate Transparency.

Hashing follows RFC 6962 §2.1 / RFC 9162 §2.1.1: leaf = SHA-256(0x00 || data),
node = SHA-256(0x01 || left || right), the tree of ``n`` leaves split at the
largest power of two smaller than ``n``. Inclusion proofs are generated with
the ``PATH`` algorithm (RFC 6962 §2.1.1) and verified with RFC 9162 §2.1.3.2.
Pure functions over ``bytes``; the store keeps the leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash (MTH) of already-hashed leaves; the empty tree is SHA-256('')."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root_hash(leaves[:k]), root_hash(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of ``leaves`` (RFC 6962 PATH)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise IndexError(f"leaf {index} outside a tree of {n} leaves")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_proof(index, leaves[:k]) + [root_hash(leaves[k:])]
    return inclusion_proof(index - k, leaves[k:]) + [root_hash(leaves[:k])]


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show ``leaf`` at ``index`` in the tree with ``root``?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def frontier_append(frontier: list[tuple[int, bytes]], leaf: bytes) -> list[tuple[int, bytes]]:
    """Append a leaf to the compact range of perfect subtrees ``[(size, hash), ...]`` (largest first)."""
    out = [*frontier, (1, leaf)]
    while len(out) >= 2 and out[-1][0] == out[-2][0]:
        (size, right), (_, left) = out.pop(), out.pop()
        out.append((size * 2, node_hash(left, right)))
    return out


def frontier_root(frontier: Sequence[tuple[int, bytes]]) -> bytes:
    """The RFC 6962 tree hash from the compact range: subtrees folded right to left."""
    if not frontier:
        return hashlib.sha256(b"").digest()
    root = frontier[-1][1]
    for _size, subtree in reversed(frontier[:-1]):
        root = node_hash(subtree, root)
    return root


class MerkleTree:
    """All levels of an RFC 6962 tree, for O(log n) audit paths after one O(n) build.

    The RFC 6962 split (largest power of two first) gives the same tree as
    pairing nodes level by level and carrying an unpaired last node up unchanged.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])
            self.levels.append(above)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else hashlib.sha256(b"").digest()

    def proof(self, index: int) -> list[bytes]:
        """Audit path of leaf ``index`` (bottom to top), equal to :func:`inclusion_proof`."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} outside a tree of {self.size} leaves")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


# ------------------------------------------------------------------ stored nodes
# The store keeps every perfect subtree of the log (level L, index i covers
# leaves [i*2^L, (i+1)*2^L)), written once when the subtree completes. An audit
# path of any tree size is then O(log n) of those nodes (RFC 6962 §2.1.1 PATH,
# with every non-perfect right part folded from its perfect pieces).

#: Bits of :func:`node_key` given to the index within a level (2^40 leaves ≈ 10^12 events).
_INDEX_BITS = 40


def node_key(level: int, index: int) -> int:
    """One integer key for the perfect subtree ``(level, index)``: ``level * 2^40 + index``."""
    return (level << _INDEX_BITS) | index


def append_with_nodes(
    frontier: list[tuple[int, bytes]], leaf: bytes
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """:func:`frontier_append` that also returns ``[(node_key, hash), ...]`` of every perfect
    subtree the new leaf completes (the leaf itself first, then each merge up the right edge)."""
    end = sum(size for size, _ in frontier) + 1
    out = [*frontier, (1, leaf)]
    nodes = [(node_key(0, end - 1), leaf)]
    while len(out) >= 2 and out[-1][0] == out[-2][0]:
        (size, right), (_, left) = out.pop(), out.pop()
        merged = (size * 2, node_hash(left, right))
        out.append(merged)
        level = merged[0].bit_length() - 1
        nodes.append((node_key(level, end // merged[0] - 1), merged[1]))
    return out, nodes


def perfect_parts(start: int, size: int) -> list[tuple[int, int]]:
    """``[(level, index), ...]`` of the aligned perfect subtrees that make up leaves ``[start, start+size)``, left to right."""
    parts = []
    while size:
        level = size.bit_length() - 1
        width = 1 << level
        # Aligned ranges from the RFC 6962 split always decompose largest first.
        parts.append((level, start >> level))
        start += width
        size -= width
    return parts


def audit_path_plan(index: int, tree_size: int) -> list[list[tuple[int, int]]]:
    """For each audit-path element (bottom to top), the perfect subtrees whose tree hash it is.

    Follows RFC 6962 PATH(m, D[n]) on the range ``[start, start+n)``.
    """
    if not 0 <= index < tree_size:
        raise IndexError(f"leaf {index} outside a tree of {tree_size} leaves")
    path: list[list[tuple[int, int]]] = []
    start, n, m = 0, tree_size, index
    while n > 1:
        k = _split(n)
        if m < k:
            path.append(perfect_parts(start + k, n - k))
            n = k
        else:
            path.append(perfect_parts(start, k))
            start, n, m = start + k, n - k, m - k
    path.reverse()
    return path


def audit_path_keys(index: int, tree_size: int) -> list[tuple[int, ...]]:
    """:func:`audit_path_plan` with each perfect subtree given by its :func:`node_key`."""
    return [
        tuple((level << _INDEX_BITS) | i for level, i in element)
        for element in audit_path_plan(index, tree_size)
    ]


def fold_parts(hashes: Sequence[bytes]) -> bytes:
    """Tree hash of a range from its perfect parts (left to right), as :func:`frontier_root`."""
    root = hashes[-1]
    for subtree in reversed(hashes[:-1]):
        root = node_hash(subtree, root)
    return root
