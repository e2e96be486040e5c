"""The REST client, against a real badbatch server (BADBATCH_URL)."""

import socket
import threading
import uuid

import pytest

import badbatch
from badbatch import APIError, Client, Event


def name():
    return "py-" + uuid.uuid4().hex[:12]


def test_publish_and_replay(server_url):
    c = Client(server_url)
    n = name()
    desc = c.create(n, buffer_size=64)
    assert desc["name"] == n
    r = c.publish(n, {"id": 1}, metadata={"source": "pytest"})
    assert r["first_sequence"] == 0 and r["last_sequence"] == 0
    c.publish(n, data=b"\x00\x01binary")
    r = c.publish_batch(n, [{"id": 2}, b"bytes", {"payload": [3], "metadata": {"k": "v"}}])
    assert (r["first_sequence"], r["last_sequence"], r["count"]) == (2, 4, 3)
    page = c.replay(n, from_sequence=0, limit=3)
    assert [e.sequence for e in page.events] == [0, 1, 2]
    assert page.events[0].payload == {"id": 1} and page.events[0].metadata == {"source": "pytest"}
    assert page.events[1].data == b"\x00\x01binary" and page.events[1].payload is None
    assert page.next_sequence == 3 and page.latest_sequence == 4
    every = list(c.replay_all(n, from_sequence=0, page_size=2))
    assert [e.sequence for e in every] == [0, 1, 2, 3, 4]
    assert every[4] == Event(4, every[4].time, [3], None, {"k": "v"})
    assert c.get(n, 3).data == b"bytes"
    c.delete(n)


def test_idempotent_retry(server_url):
    c = Client(server_url)
    n = name()
    c.create(n)
    a = c.publish(n, {"x": 1}, idempotency_key="k1")
    b = c.publish(n, {"x": 1}, idempotency_key="k1")
    assert b["duplicate"] and b["first_sequence"] == a["first_sequence"]
    c.delete(n)


def test_errors_carry_the_api_code(server_url):
    c = Client(server_url)
    with pytest.raises(APIError) as e:
        c.publish("no-such-" + uuid.uuid4().hex[:6], {"x": 1})
    assert e.value.status == 404 and e.value.code == "DISRUPTOR_NOT_FOUND"
    n = name()
    c.create(n)
    with pytest.raises(APIError) as e:
        c.create(n)
    assert e.value.status == 409 and e.value.code == "DISRUPTOR_EXISTS"
    with pytest.raises(APIError) as e:
        c.get(n, 7)
    assert e.value.code == "SEQUENCE_NOT_FOUND"
    with pytest.raises(ValueError):
        c.publish(n, {"x": 1}, data=b"both")
    c.delete(n)


def test_tail_follows_live_and_ends(server_url):
    c = Client(server_url)
    n = name()
    c.create(n)
    c.publish(n, {"i": 0})
    tail = c.tail(n, from_sequence=0)
    assert next(tail).payload == {"i": 0}
    for i in range(1, 20):
        c.publish(n, {"i": i})
    got = [next(tail).payload["i"] for _ in range(19)]
    assert got == list(range(1, 20))
    c.set_state(n, "stopped")
    assert list(tail) == []  # the end message ends the iterator
    assert tail.end["reason"] == "stopped"
    # Resume explicitly after an event id.
    assert [e.sequence for e in c.tail(n, last_event_id=16)] == [17, 18, 19]
    c.delete(n)


class CuttingProxy:
    """A TCP proxy to the server that cuts its first connection after
    ``cut`` bytes of response, as a network failure would."""

    def __init__(self, target, cut):
        host, port = target.split("//")[1].split(":")
        self.target = (host, int(port))
        self.cut = cut
        self.connections = 0
        self.ln = socket.socket()
        self.ln.bind(("127.0.0.1", 0))
        self.ln.listen()
        self.url = "http://127.0.0.1:%d" % self.ln.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.ln.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target)
            limit = self.cut if self.connections == 1 else None
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, limit), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, limit):
        sent = 0
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                if limit is not None and sent + len(b) >= limit:
                    dst.sendall(b[:limit - sent])
                    break
                dst.sendall(b)
                sent += len(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.ln.close()


def test_tail_resumes_after_a_dropped_connection(server_url):
    c = Client(server_url)
    n = name()
    c.create(n, buffer_size=1024)
    c.publish_batch(n, [{"i": i, "pad": "x" * 40} for i in range(200)])
    proxy = CuttingProxy(server_url, cut=4000)  # mid-stream, mid-message
    try:
        tail = Client(proxy.url).tail(n, from_sequence=0, retry_delay=0.01)
        got = [next(tail).payload["i"] for _ in range(200)]
        assert got == list(range(200))  # none lost, none repeated
        assert tail.reconnects >= 1 and proxy.connections >= 2
        c.publish(n, {"i": 200, "pad": ""})
        assert next(tail).sequence == 200
        tail.close()
    finally:
        proxy.close()
        c.delete(n)


def test_tail_of_an_evicted_start_is_refused(server_url):
    c = Client(server_url)
    n = name()
    c.create(n, buffer_size=4, durability="memory")  # a journaled one serves it from its journal
    c.publish_batch(n, [{"i": i} for i in range(4)])
    c.publish_batch(n, [{"i": i} for i in range(4)])
    with pytest.raises(APIError) as e:
        next(c.tail(n, from_sequence=0))
    assert e.value.status == 410 and e.value.code == "SEQUENCE_EVICTED"
    c.delete(n)


def test_tail_of_a_journaled_disruptor_from_below_its_ring(server_url):
    c = Client(server_url)
    n = name()
    d = c.create(n, buffer_size=4)
    assert d["durability"] == "journal"
    c.publish_batch(n, [{"i": i} for i in range(4)])
    c.publish_batch(n, [{"i": i} for i in range(4, 8)])
    tail = c.tail(n, from_sequence=0)
    got = [next(tail) for _ in range(8)]
    assert [e.sequence for e in got] == list(range(8))
    assert [e.payload["i"] for e in got] == list(range(8))
    c.delete(n)


def test_package_imports_without_the_library_for_the_client():
    assert badbatch.Client is Client
