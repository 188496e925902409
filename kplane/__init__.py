"""kplane kplane."""
