"""Stand-ins for the outside systems (carrier, one-stop) that speak their wire; never production."""
