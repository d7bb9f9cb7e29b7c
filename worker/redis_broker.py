"""The Redis broker: kombu's Redis transport, with a close that survives a Redis restart.

Why: when Redis goes away under a worker (a restart, SIGTERM or SIGKILL), Celery cleans up
the broken connection in two steps (`on_connection_error_after_connected`): `collect()`,
then `close()`. In kombu 5.7.0 the first step closes the transport's channels last-first;
the broadcast channel's close deletes its auto-delete queue on the dead server, the
connection error ends the loop (swallowed), and `collect()` then detaches the transport from
its connection (`transport.client = None`) with the consumer's channel still open and its
unacknowledged deliveries still held. `close()` then closes that channel: kombu's QoS
restores the deliveries through a new connection pool built from `transport.client`, which
is gone: `AttributeError: 'NoneType' object has no attribute 'hostname'`. That is no
connection error, so it escapes Celery's `ignore_errors` and the worker stops for good
("Unrecoverable error"). Upstream: kombu #582 and #970 (the same error on other close
paths), celery #10205; no released kombu fixes this path (5.7.0 is the newest).

The change: a restore that finds its connection gone only logs how many deliveries it
leaves. Nothing is lost: each delivery sits in Redis's unacked hash from the moment it was
received (kombu writes it there before handing it over), and kombu's visibility-timeout
restore (any worker's) puts it back in its queue after `visibility_timeout`; the ledger's
sweep rings a due row again long before that anyway (worker/service/jobs/sweeper.py).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, _transport_cache
from kombu.transport.redis import Channel as _Channel
from kombu.transport.redis import QoS as _QoS
from kombu.transport.redis import Transport as _Transport

log = logging.getLogger(__name__)

SCHEMES = ("redis", "rediss")
TRANSPORT = f"{__name__}:Transport"


class QoS(_QoS):
    def restore_unacked(self, client: Any = None) -> Any:
        transport = self.channel.connection
        if client is None and (transport is None or transport.client is None):
            delivered: Any = self._delivered  # typed None in kombu's class body
            left = len(delivered)
            delivered.clear()  # restore_unacked_once then marks them restored: must be empty
            log.warning("broker connection already closed: %d unacknowledged message(s) left "
                        "in Redis, redelivered after the visibility timeout", left)
            return None
        return super().restore_unacked(client)


class Channel(_Channel):
    QoS = QoS


class Transport(_Transport):
    Channel = Channel


def register() -> None:
    """Make redis:// and rediss:// URLs load this transport. The URL still names the
    scheme, so kombu's own handling of it (TLS for rediss://, failover URLs) is unchanged."""
    for scheme in SCHEMES:
        TRANSPORT_ALIASES[scheme] = TRANSPORT
        _transport_cache.pop(scheme, None)  # a class kombu resolved for it before
