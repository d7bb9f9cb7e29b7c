"""A TCP proxy the chaos suite controls: forward, blackhole (half-open) or cut a link.

Threads and sockets, no dependencies. Clients connect to `port` on loopback; each
connection gets its own connection to the target and two pump threads.

- forward(): bytes flow both ways.
- blackhole(): a half-open link. Every connection stays open and nothing is read or
  forwarded any more, so the kernel buffers fill and the peers' writes eventually block;
  nothing is closed and nobody is told. New connections are accepted (the handshake
  succeeds) and forward nothing either. Caveat: the proxy's kernel still answers TCP
  keepalive probes, so only an application's own heartbeat or timeout notices; a real
  partition would also let keepalive notice.
- cut(): every open connection is reset (SO_LINGER 0: the peers read ECONNRESET) and the
  listening socket is closed, so new connections are refused.
- forward() after blackhole(): new connections flow. The connections held during the
  blackhole are handled by `held` (default "forget"): the far side forgot them, as a
  server restarted behind a partition or a firewall that dropped its state: their link to
  the target is closed, and the client end stays silent until the client sends something,
  which is then answered by a reset (as the target's RST would; bytes it sent during the
  blackhole count, as their retransmission would meet that RST). A client that only waits
  for a reply (a blocking read) never hears anything: it must notice by itself. "reset"
  resets them all at once; "resume" lets them flow again as if the link had only stalled.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

from worker.launch.stack import free_port, release_port

FORWARD, BLACKHOLE, CUT = "forward", "blackhole", "cut"
_LIVE, _HELD, _STALE = "live", "held", "stale"
_TICK = 0.1  # how often a waiting pump looks at its link's state again


def _reset(sock: socket.socket | None) -> None:
    """Close with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Link:
    """One client connection and its connection to the target."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, state: str):
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.state = state
        self.closed = False
        self.lock = threading.Lock()

    def connect(self) -> bool:
        """The link to the target, made by whichever pump first needs it."""
        failed = False
        with self.lock:
            if self.closed:
                return False
            if self.upstream is None:
                try:
                    self.upstream = socket.create_connection(
                        (self.proxy.target_host, self.proxy.target_port), timeout=5)
                    self.upstream.settimeout(None)
                except OSError:
                    failed = True
        if failed:
            self.close(reset=True)  # the target refused: so does the proxy
            return False
        return True

    def run(self) -> None:
        threading.Thread(target=self._pump, args=(True,), daemon=True,
                         name=f"proxy-{self.proxy.port}-up").start()
        threading.Thread(target=self._pump, args=(False,), daemon=True,
                         name=f"proxy-{self.proxy.port}-down").start()

    def _pump(self, from_client: bool) -> None:
        while not self.closed:
            state = self.state
            if state == _HELD:
                self.proxy._stopped.wait(_TICK)
                continue
            if state == _STALE:
                if not from_client:
                    return  # the target's side is gone; the client side waits below
                if self._readable(self.client):
                    self.close(reset=True)  # the client spoke on a forgotten link: RST
                continue
            if not self.connect():
                return
            src, dst = (self.client, self.upstream) if from_client else (self.upstream,
                                                                         self.client)
            assert src is not None and dst is not None
            if not self._readable(src) or self.state != _LIVE:
                continue
            try:
                data = src.recv(65536)
                if not data:
                    self.close()
                    return
                dst.sendall(data)
            except OSError:
                self.close(reset=True)
                return

    def _readable(self, sock: socket.socket) -> bool:
        try:
            ready, _, _ = select.select([sock], [], [], _TICK)
        except (OSError, ValueError):  # closed under us
            return False
        return bool(ready)

    def forget_upstream(self) -> None:
        with self.lock:
            upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.close()

    def close(self, reset: bool = False) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.upstream):
            if reset:
                _reset(sock)
            elif sock is not None:
                sock.close()
        self.proxy._forget(self)


class TcpProxy:
    """A proxy from 127.0.0.1:`port` to `target_host`:`target_port`; see the module doc."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1",
                 port: int | None = None):
        self.target_port = target_port
        self.target_host = target_host
        self._own_port = port is None
        self.port = port if port is not None else free_port()
        self.mode = FORWARD
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return (f"TcpProxy(:{self.port} -> {self.target_host}:{self.target_port}, "
                f"{self.mode}, {len(self._links)} open)")

    @property
    def connections(self) -> int:
        return len(self._links)

    def start(self) -> None:
        self._open()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"proxy-{self.port}-accept")
        self._thread.start()

    def _open(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            self._listener = listener

    def _close_listener(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            try:  # stops listening now; close alone waits for the accept thread's select
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                self._stopped.wait(_TICK)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], _TICK)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # closed by cut() or stop()
                continue
            with self._lock:
                mode = self.mode
                if mode == CUT:
                    _reset(client)
                    continue
                link = _Link(self, client, _LIVE if mode == FORWARD else _HELD)
                self._links.add(link)
            link.run()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _set(self, mode: str) -> list[_Link]:
        with self._lock:
            self.mode = mode
            return list(self._links)

    def forward(self, held: str = "forget") -> None:
        """Bytes flow again; `held` says what becomes of the connections held by a
        blackhole: "forget" (default), "reset" or "resume" (see the module doc)."""
        if held not in ("forget", "reset", "resume"):
            raise ValueError(f"held: {held!r} is not forget, reset or resume")
        links = self._set(FORWARD)
        for link in links:
            if link.state != _HELD:
                continue
            if held == "resume":
                link.state = _LIVE
            elif held == "reset":
                link.close(reset=True)
            else:
                link.state = _STALE
                link.forget_upstream()
        self._open()

    def blackhole(self) -> None:
        """Hold every connection open and forward nothing; accept new ones, held too."""
        for link in self._set(BLACKHOLE):
            if link.state == _LIVE:
                link.state = _HELD
        self._open()

    def cut(self) -> None:
        """Reset every open connection and refuse new ones."""
        self._close_listener()
        for link in self._set(CUT):
            link.close(reset=True)

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        for link in self._set(CUT):
            link.close(reset=True)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_port:
            release_port(self.port)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
