"""A small client of the BadBatch REST API (docs/api.md), on the standard
library alone::

    c = Client("http://127.0.0.1:8080")
    c.create("orders", buffer_size=4096)
    c.publish("orders", {"id": 1})
    page = c.replay("orders", from_sequence=0)
    for event in c.tail("orders", from_sequence=0):   # live, until the end
        print(event.sequence, event.payload)

A tail reconnects by itself when its connection drops, sending the
sequence of the last event it yielded as Last-Event-ID, so no event is
skipped or repeated across the reconnection.
"""

import base64
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple

from .errors import APIError, SubscriberLaggedError

__all__ = ["Client", "Event", "Gap", "Page", "Tail"]

Event = namedtuple("Event", "sequence time payload data metadata")
Event.__doc__ = """An event: ``payload`` is its JSON value (None for a binary
event), ``data`` its bytes (None for a JSON event), ``metadata`` a dict."""

Gap = namedtuple("Gap", "from_sequence to_sequence count")
Gap.__doc__ = """Sequences a tail skipped (a disruptor with on_lag "skip")."""

Page = namedtuple("Page", "events next_sequence oldest_sequence latest_sequence")


def _event(obj):
    data = obj.get("payload_base64")
    return Event(obj["sequence"], obj.get("time"), obj.get("payload"),
                 base64.b64decode(data) if data is not None else None,
                 obj.get("metadata") or {})


def _event_in(e):
    """A publish body's event from bytes (binary), an Event-like dict, or
    any other JSON value (the payload)."""
    if isinstance(e, (bytes, bytearray, memoryview)):
        return {"payload_base64": base64.b64encode(bytes(e)).decode()}
    if isinstance(e, dict) and ("payload" in e or "payload_base64" in e or "data" in e):
        out = {}
        if "data" in e:
            out["payload_base64"] = base64.b64encode(bytes(e["data"])).decode()
        for k in ("payload", "payload_base64", "metadata"):
            if k in e:
                out[k] = e[k]
        return out
    return {"payload": e}


class Client:
    """A client of one server. ``api_key`` is sent as a bearer token;
    ``timeout`` bounds each call (seconds)."""

    def __init__(self, url="http://127.0.0.1:8080", api_key=None, timeout=30.0):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    # Plumbing.

    def _path(self, *parts):
        return "/api/v1/" + "/".join(urllib.parse.quote(str(p), safe="") for p in parts)

    def _request(self, method, path, body=None, query=None, headers=None, timeout=None):
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        h = {"Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            raise _api_error(e.code, e.read(), e.headers) from None

    def _json(self, method, path, body=None, query=None, headers=None):
        with self._request(method, path, body, query, headers) as res:
            raw = res.read()
        return json.loads(raw) if raw else None

    # Disruptors.

    def create(self, name, **settings):
        """Creates a disruptor; settings are the create body's fields
        (buffer_size, overflow, on_lag...). Returns its description."""
        return self._json("POST", self._path("disruptors"), dict(settings, name=name))

    def describe(self, name):
        return self._json("GET", self._path("disruptors", name))

    def delete(self, name):
        self._json("DELETE", self._path("disruptors", name))

    def set_state(self, name, state):
        """Moves a disruptor to running, paused or stopped."""
        return self._json("PUT", self._path("disruptors", name, "state"), {"state": state})

    # Events.

    def publish(self, name, payload=None, *, data=None, metadata=None, idempotency_key=None):
        """Publishes one event: a JSON ``payload``, or ``data`` bytes.
        Returns the result: first_sequence, last_sequence, duplicate..."""
        if (payload is None) == (data is None):
            raise ValueError("give exactly one of payload and data")
        ev = _event_in(bytes(data)) if data is not None else {"payload": payload}
        if metadata:
            ev["metadata"] = metadata
        return self._json("POST", self._path("disruptors", name, "events"), ev,
                          headers=_idem(idempotency_key))

    def publish_batch(self, name, events, idempotency_key=None):
        """Publishes a batch whole, at consecutive sequences, or not at all.
        Each event is bytes, a dict with payload/data and metadata, or a
        JSON value (the payload)."""
        return self._json("POST", self._path("disruptors", name, "events"),
                          {"events": [_event_in(e) for e in events]},
                          headers=_idem(idempotency_key))

    def get(self, name, sequence):
        """One event by sequence."""
        return _event(self._json("GET", self._path("disruptors", name, "events", sequence)))

    def replay(self, name, from_sequence=None, limit=None):
        """A page of held events from from_sequence (default: the oldest)."""
        obj = self._json("GET", self._path("disruptors", name, "events"),
                         query={"from": from_sequence, "limit": limit})
        return Page([_event(e) for e in obj.get("events") or []], obj.get("next_sequence"),
                    obj.get("oldest_sequence"), obj.get("latest_sequence"))

    def replay_all(self, name, from_sequence=None, page_size=1000):
        """Yields every held event from from_sequence up to the latest
        published when each page was read."""
        nxt = from_sequence
        while True:
            page = self.replay(name, nxt, page_size)
            yield from page.events
            if not page.events or page.latest_sequence is None or page.next_sequence > page.latest_sequence:
                return
            nxt = page.next_sequence

    def tail(self, name, from_sequence=None, last_event_id=None, reconnect=True,
             retry_delay=None, max_retries=20, read_timeout=60.0):
        """A live tail (Server-Sent Events) as an iterator of Event (and
        Gap) until the disruptor stops or is deleted. It starts after
        ``last_event_id`` if given, else at ``from_sequence``, else with
        the next event published. See :class:`Tail`."""
        return Tail(self, name, from_sequence, last_event_id, reconnect,
                    retry_delay, max_retries, read_timeout)


def _idem(key):
    return {"Idempotency-Key": key} if key else None


def _api_error(status, raw, headers):
    try:
        err = json.loads(raw)["error"]
        code, message, details = err.get("code"), err.get("message", ""), err.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = "HTTP_%d" % status, raw.decode(errors="replace")[:200], None
    retry = headers.get("Retry-After") if headers else None
    return APIError(status, code, message, details, retry)


class Tail:
    """An iterator over a live tail. ``last_event_id`` is the sequence of
    the last event yielded (the resume point). When the connection drops
    before the server's final message, it reconnects with that
    Last-Event-ID after ``retry_delay`` seconds (by default the server's
    ``retry:``, else 0.2), up to ``max_retries`` times in a row; ``reconnects``
    counts them. It ends at the server's ``end`` message, raises
    SubscriberLaggedError at ``lagged``, and APIError when the server
    refuses the stream (410 SEQUENCE_EVICTED when the resume point is
    gone)."""

    def __init__(self, client, name, from_sequence, last_event_id, reconnect,
                 retry_delay, max_retries, read_timeout):
        self._c = client
        self._name = name
        self._from = from_sequence
        self.last_event_id = last_event_id
        self._reconnect = reconnect
        self._retry_set = retry_delay is not None
        self._retry = retry_delay if retry_delay is not None else 0.2
        self._max_retries = max_retries
        self._timeout = read_timeout
        self._res = None
        self._done = False
        self.reconnects = 0
        self.end = None  # the final "end" message, once seen

    def __iter__(self):
        return self

    def _open(self):
        headers = {"Accept": "text/event-stream"}
        query = {}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        elif self._from is not None:
            query["from"] = self._from
        self._res = self._c._request("GET", self._c._path("disruptors", self._name, "events", "stream"),
                                     query=query, headers=headers, timeout=self._timeout)

    def __next__(self):
        failures = 0
        while not self._done:
            try:
                if self._res is None:
                    self._open()
                msg = self._read_message()
            except APIError:
                self.close()
                raise
            except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, cut chunks
                msg, err = None, e
            else:
                err = None
            if msg is None:  # the connection ended before the final message
                self._drop()
                if not self._reconnect or failures >= self._max_retries:
                    self._done = True
                    raise ConnectionError("tail of %r ended: %s" % (self._name, err or "connection closed"))
                failures += 1
                self.reconnects += 1
                time.sleep(self._retry)
                continue
            failures = 0
            kind, ident, data = msg
            if kind == "message":
                ev = _event(json.loads(data))
                self.last_event_id = ev.sequence
                return ev
            body = json.loads(data) if data else {}
            if kind == "gap":
                if ident is not None:
                    self.last_event_id = int(ident)
                return Gap(body.get("from"), body.get("to"), body.get("count"))
            if kind == "end":
                self.end = body
                self.close()
                raise StopIteration
            if kind == "lagged":
                self.close()
                raise SubscriberLaggedError(200, body.get("code", "SUBSCRIBER_LAGGED"),
                                            "the tail fell a ring behind", body)
            # unknown control messages are skipped, as EventSource does
        raise StopIteration

    def _read_message(self):
        """The next SSE message as (event, id, data), or None at EOF."""
        kind, ident, data = "message", None, []
        while True:
            line = self._res.readline()
            if not line:
                return None
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data:
                    return kind, ident, "\n".join(data)
                kind = "message"  # no data: nothing to dispatch (the SSE rule)
                continue
            if line.startswith(":"):
                continue  # a comment: keepalive
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                ident = value
            elif field == "retry" and value.isdigit() and not self._retry_set:
                self._retry = int(value) / 1000.0

    def _drop(self):
        if self._res is not None:
            try:
                self._res.close()
            except OSError:
                pass
            self._res = None

    def close(self):
        """Ends the tail."""
        self._done = True
        self._drop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
