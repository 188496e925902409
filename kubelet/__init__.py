"""kplane kubelet."""
