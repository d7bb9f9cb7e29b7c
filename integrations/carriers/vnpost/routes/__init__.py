"""The adapters of Vietnam Post's routes, one module per route, each a CarrierGateway with a
`for_account` factory that integrations/carriers/registry.py names."""
