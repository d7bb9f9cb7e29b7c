"""The order a worker's consumer takes messages from its three queues, on either broker
(worker/launch/queues.py): what tests of both brokers publish and what they expect."""

from __future__ import annotations

from kombu import Connection, Consumer, Exchange, Queue
from kombu.message import Message

from worker.launch.queues import LOOKED_IN

# rows' and carrier's messages waiting, a periodic ring among them, published in this order
PUBLISHED = ("handoff", "handoff", "handoff", "handoff-carrier", "handoff-periodic",
             "handoff-carrier", "handoff-carrier", "handoff-periodic")
# the rings first; then carrier and rows in turn
EXPECTED = ["handoff-periodic"] * 2 + ["handoff-carrier", "handoff"] * 3
# kombu's "priority" (the order before): every carrier row before any push-back
CARRIER_FIRST = ["handoff-periodic"] * 2 + ["handoff-carrier"] * 3 + ["handoff"] * 3


def taken_in_order(conn: Connection) -> list[str]:
    """Publish PUBLISHED, then consume from LOOKED_IN as `handoff worker` does, one message
    a look; the queue each message came from, in the order taken."""
    assert LOOKED_IN == ("handoff-periodic", "handoff-carrier", "handoff")
    exchange = Exchange("handoff", type="direct")
    queues = {name: Queue(name, exchange, routing_key=name) for name in LOOKED_IN}
    producer = conn.Producer()
    for name in PUBLISHED:
        producer.publish({"q": name}, exchange=exchange, routing_key=name,
                         declare=[queues[name]])
    got: list[str] = []

    def take(body: dict, message: Message) -> None:
        got.append(body["q"])
        message.ack()

    with Consumer(conn, [queues[n] for n in LOOKED_IN], accept=["json"], callbacks=[take]):
        while len(got) < len(PUBLISHED):
            conn.drain_events(timeout=5)
    return got
