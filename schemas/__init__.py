"""kplane schemas."""
