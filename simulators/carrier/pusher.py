"""The carrier's status-push product, played by the simulator: every new event of an account
with a registered URL (config `push_targets`) is posted there in the push product's codes,
and re-sent under the same transaction id until the receiver answers success.

The push product has no code for a failed pick-up (feed codes 13-16), nor for arriving at
the delivery office or COD: those go out as 12 "Trạng thái khác", so only the feed tells
them. With `feed_lag_s` the feed shows each event later than it is pushed, as in the
province runs where pushes ran seconds ahead of the feed.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from simulators.carrier.push import push_body, signed_push
from simulators.carrier.store import SimStore

# feed code -> push product code; every other feed code is pushed as OTHER
FEED_TO_PUSH = {1: 3, 2: 4, 10: 4, 4: 6, 5: 7, 11: 7, 7: 8, 9: 13}
OTHER = 12
TICK_S = 0.1


@dataclass
class Outgoing:
    url: str
    secret: str
    body: dict
    transaction: str


PUSH_TIMEOUT_S = 5.0  # how long the post office waits for a receiver's answer


class Pusher:
    """One daemon thread per simulator, started when an account registers a push URL."""

    def __init__(self, store: SimStore) -> None:
        self.store = store
        self.outgoing: list[Outgoing] = []  # touched by the pusher thread only
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        with self._lock:
            if self.store.config.push_targets and (
                    self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="carrier-pusher",
                                                daemon=True)
                self._thread.start()

    def collect(self) -> None:
        """Take the feed's new entries of the accounts that registered a URL."""
        store = self.store
        with store.lock:
            targets = store.config.push_targets
            store._materialize()
            fresh = store.feed[store.pushed_upto:]
            store.pushed_upto = len(store.feed)
        for doc in fresh:
            target = targets.get(doc["CustomerCode"])
            if not target:
                continue
            at = datetime.fromtimestamp(doc["EventTime"] / 1000, UTC)
            code = FEED_TO_PUSH.get(doc["StatusCode"], OTHER)
            body = push_body(doc["OrderNumber"], code, at, item_code=doc["ItemCode"],
                             note=doc["Notes"])
            self.outgoing.append(Outgoing(target[0], target[1], body,
                                          f"tx-{uuid.uuid4().hex[:16]}"))

    def send(self, client: httpx.Client) -> None:
        """Post each waiting push once (or `push_copies` times at once, all under the same
        transaction id); keep those not answered success for the next tick."""
        waiting = []
        copies = max(1, self.store.config.push_copies)
        for push in self.outgoing:
            headers, raw = signed_push(push.secret, push.body, transaction=push.transaction)
            if copies == 1:
                ok = _post(client, push.url, raw, headers)[0]
            else:
                with ThreadPoolExecutor(copies) as pool:
                    futures = [pool.submit(_post, client, push.url, raw, headers)
                               for _ in range(copies)]
                    answers = [f.result() for f in futures]
                ok = all(a[0] for a in answers)
                with self.store.lock:  # by answer (or error); the slowest answer, in ms
                    self.store.counts["push_copies_not_2xx"] += sum(not a[0] for a in answers)
                    tally = self.store.copy_answers
                    tally.update(a[1] for a in answers)
                    tally["slowest_ms"] = max(tally["slowest_ms"], *(a[2] for a in answers))
            with self.store.lock:
                self.store.counts["pushes_sent" if ok else "pushes_resent"] += 1
            if not ok:
                waiting.append(push)
        self.outgoing = waiting

    def _run(self) -> None:
        with httpx.Client() as client:
            while True:
                self.collect()
                self.send(client)
                time.sleep(TICK_S)


def _post(client: httpx.Client, url: str, raw: bytes, headers: dict[str, str]
          ) -> tuple[bool, str, int]:
    """(answered success, the answer's status or error name, milliseconds it took)."""
    started = time.monotonic()
    try:
        reply = client.post(url, content=raw, headers=headers, timeout=PUSH_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__, int((time.monotonic() - started) * 1000)
    took_ms = int((time.monotonic() - started) * 1000)
    try:
        ok = reply.status_code == 200 and reply.json().get("code") == "success"
    except (ValueError, AttributeError):
        ok = False
    return ok, str(reply.status_code), took_ms
