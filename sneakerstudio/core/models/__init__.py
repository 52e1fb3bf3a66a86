"""Model files on disk → loaded models: headers, identification, configs read from tensor
shapes, safe pickle conversion, hashes, loading, the in-memory cache and the library."""
