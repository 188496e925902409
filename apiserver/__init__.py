"""The kplane API server."""
