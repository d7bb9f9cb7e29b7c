"""The carrier quota's shared store in production: a token bucket per account in Redis."""
