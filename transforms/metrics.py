"""The transforms' metrics: the graph's one namespace and latency histograms (see connectors/metrics.py)."""
from connectors.metrics import LATENCY_BOUNDS_S, NAMESPACE, LatencyHistogram

__all__ = ['LATENCY_BOUNDS_S', 'NAMESPACE', 'LatencyHistogram']
