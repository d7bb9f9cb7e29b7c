"""Read models for pages, the CLI and /metrics: ops queries and filters, the agencies
as people see them, reports, the Prometheus families.

The top of the service: a view may read any package below; nothing in the service
imports a view.
"""
