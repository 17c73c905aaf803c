"""Fingerprints that find duplicate documents: normalised URL, normalised text, MinHash.

Plain Python and numpy (no Django), so it is easy to test and to reuse.

- Same URL: scheme and host lower-cased, default ports, fragments and tracking parameters
  (utm_*, fbclid, gclid...) dropped, query parameters sorted.
- Same text: Unicode NFKC, case-folded, punctuation and spacing ignored.
- Near-identical text: the Jaccard similarity of the texts' word pairs is at least
  `NEAR_DUPLICATE_JACCARD`, estimated from a 60-value MinHash signature (Broder 1997), *and* the
  texts state the same figures: "profit rose to EUR 4.7 mn" and "... EUR 5.1 mn" are different
  news. Candidates come from locality-sensitive hashing: the signature is cut into 10 bands of
  6 values; two texts sharing any band are compared. A pair at Jaccard 0.8 shares a band with
  probability 1 - (1 - 0.8^6)^10 = 0.95 (0.99 at 0.85), a pair at 0.5 only 0.15.
"""
from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

NEAR_DUPLICATE_JACCARD = 0.8
NUM_PERM = 60
BANDS = 10
ROWS = NUM_PERM // BANDS
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20240301)  # fixed: signatures must agree across processes and releases
_A = _rng.integers(1, (1 << 61) - 1, size=NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, (1 << 61) - 1, size=NUM_PERM, dtype=np.uint64)
_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|ref|ref_src)$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k))
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def url_hash(url: str) -> str:
    return hashlib.sha256(normalize_url(url).encode()).hexdigest() if url.strip() else ""


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(words(text)).encode()).hexdigest()


def numbers_hash(text: str) -> str:
    figures = [n.replace(",", ".") for n in _NUMBER.findall(text)]
    return hashlib.sha256(" ".join(figures).encode()).hexdigest()[:16]


def shingles(text: str) -> set[str]:
    """Adjacent word pairs (single words for one-word texts)."""
    tokens = words(text)
    if len(tokens) < 2:
        return set(tokens)
    return {f"{a} {b}" for a, b in itertools.pairwise(tokens)}


def minhash(text: str) -> np.ndarray:
    """NUM_PERM uint32 MinHash values of the text's shingles (all 0xFFFFFFFF for an empty text)."""
    features = shingles(text)
    if not features:
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)
    hashed = np.frombuffer(b"".join(hashlib.blake2b(f.encode(), digest_size=8).digest() for f in features),
                           dtype="<u8") & np.uint64((1 << 32) - 1)
    # (a*x + b) mod (2^61 - 1) with uint64 wrap-around, as datasketch computes its permutations.
    values = (_A[None, :] * hashed[:, None] + _B[None, :]) % _MERSENNE
    return (values & np.uint64(0xFFFFFFFF)).min(axis=0).astype(np.uint32)


def band_keys(signature: np.ndarray) -> list[int]:
    """One 63-bit key per band (band number included, so bands never collide with each other)."""
    keys = []
    for band in range(BANDS):
        chunk = signature[band * ROWS : (band + 1) * ROWS].astype("<u4").tobytes()
        digest = hashlib.blake2b(bytes([band]) + chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little") >> 1)
    return keys


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


@dataclass(frozen=True)
class TextFingerprint:
    content_hash: str
    signature: np.ndarray
    numbers_hash: str

    @property
    def bands(self) -> list[int]:
        return band_keys(self.signature)

    @property
    def signature_bytes(self) -> bytes:
        return self.signature.astype("<u4").tobytes()

    def is_near(self, signature: np.ndarray | bytes, numbers: str) -> bool:
        if isinstance(signature, (bytes, bytearray, memoryview)):
            signature = np.frombuffer(bytes(signature), dtype="<u4")
        return numbers == self.numbers_hash and jaccard_estimate(self.signature, signature) >= NEAR_DUPLICATE_JACCARD


def fingerprint(text: str) -> TextFingerprint:
    return TextFingerprint(content_hash(text), minhash(text), numbers_hash(text))
