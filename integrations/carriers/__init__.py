"""The post offices, one package per carrier (karrio's shape): each speaks its own wire
behind the carrier port (worker/ports/carrier.py). `registry.py` names the adapter factory
of every route (worker/domain/routes.py holds the rest of a route's description), and is the
only module outside a carrier's package that names one. Today one carrier: `vnpost`."""
