"""Retrieval: sentence embeddings in faiss indexes (knowledge base, items, topics)."""
from .index import SearchHit, VectorIndex

__all__ = ["SearchHit", "VectorIndex"]
