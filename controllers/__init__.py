"""kplane controllers."""
