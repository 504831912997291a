"""GS1 identifiers, Digital Link, QR round trip through zxing-cpp, RFC 6962 Merkle maths."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from traceability import merkle
from traceability.errors import IdentifierError
from traceability.gs1 import build_digital_link, gs1_check_digit, normalise_gtin, parse_digital_link
from traceability.qr import qr_png, qr_svg


def test_check_digit_known_codes() -> None:
    # 400638133393-1: EAN-13 printed on a retail product; sum = 4*1+0*3+0*1+6*3+3*1+8*3+1*1+3*3+3*1+3*3+9*1+3*3 = 89
    assert gs1_check_digit("400638133393") == 1
    assert normalise_gtin("4006381333931") == "04006381333931"
    with pytest.raises(IdentifierError, match="check digit"):
        normalise_gtin("4006381333932")
    with pytest.raises(IdentifierError, match="length"):
        normalise_gtin("123")


def test_digital_link_percent_encoding_and_order() -> None:
    uri = build_digital_link("4006381333931", "AB/12%", "S1", resolver="https://trace.example.cn/")
    assert uri == "https://trace.example.cn/01/04006381333931/10/AB%2F12%25/21/S1"
    link = parse_digital_link(uri)
    assert (link.gtin, link.lot, link.serial, link.resolver) == (
        "04006381333931",
        "AB/12%",
        "S1",
        "https://trace.example.cn",
    )
    with pytest.raises(IdentifierError, match="order"):
        parse_digital_link("https://id.gs1.org/01/04006381333931/21/S1/10/L1")
    with pytest.raises(IdentifierError, match="check digit"):
        parse_digital_link("https://id.gs1.org/01/04006381333932/10/L1")
    with pytest.raises(IdentifierError, match="lot"):
        build_digital_link("4006381333931", "has space")


def test_qr_png_decodes_to_the_same_uri() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    uri = build_digital_link("4006381333931", "DX-2025/07", resolver="http://127.0.0.1:5000")
    image = Image.open(io.BytesIO(qr_png(uri)))
    results = zxingcpp.read_barcodes(image)
    assert [r.text for r in results] == [uri]
    svg = qr_svg(uri).decode()
    assert svg.startswith("<?xml") and "<svg" in svg and "<path" in svg


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def test_merkle_three_leaves_by_hand() -> None:
    d = [b"a", b"b", b"c"]
    leaves = [merkle.leaf_hash(x) for x in d]
    la, lb, lc = (_h(b"\x00" + x) for x in d)
    ab = _h(b"\x01" + la + lb)
    expected_root = _h(b"\x01" + ab + lc)
    assert merkle.root_hash(leaves) == expected_root
    assert merkle.inclusion_proof(2, leaves) == [ab]
    assert merkle.inclusion_proof(0, leaves) == [lb, lc]
    assert merkle.verify_inclusion(0, 3, la, [lb, lc], expected_root)
    assert not merkle.verify_inclusion(1, 3, la, [lb, lc], expected_root)


@pytest.mark.parametrize("size", range(1, 12))
def test_merkle_every_proof_verifies_and_tampering_fails(size: int) -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(size)]
    root = merkle.root_hash(leaves)
    for i in range(size):
        proof = merkle.inclusion_proof(i, leaves)
        assert merkle.verify_inclusion(i, size, leaves[i], proof, root)
        assert not merkle.verify_inclusion(i, size, merkle.leaf_hash(b"x"), proof, root)


def test_compact_frontier_gives_the_same_root_as_the_full_tree() -> None:
    frontier: list[tuple[int, bytes]] = []
    leaves = []
    for i in range(40):
        leaf = merkle.leaf_hash(str(i).encode())
        leaves.append(leaf)
        frontier = merkle.frontier_append(frontier, leaf)
        assert merkle.frontier_root(frontier) == merkle.root_hash(leaves)
        assert sum(size for size, _ in frontier) == i + 1


def test_level_tree_equals_the_recursive_definition() -> None:
    for size in range(1, 34):
        leaves = [merkle.leaf_hash(f"{size}-{i}".encode()) for i in range(size)]
        tree = merkle.MerkleTree(leaves)
        assert tree.root == merkle.root_hash(leaves)
        for i in range(size):
            assert tree.proof(i) == merkle.inclusion_proof(i, leaves)
