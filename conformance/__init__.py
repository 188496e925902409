"""kplane conformance."""
