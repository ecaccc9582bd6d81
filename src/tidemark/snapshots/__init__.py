"""The snapshot engine: capture, storage, reads, compare and import."""
