"""Monitoring: Prometheus config, alert rules, dashboards, and the small exporters the stack starts."""
