"""The hot routes answered inside uvicorn's HTTP protocol (collector/protocol.py) against the
same routes through ASGI and Starlette: the same answers, over real sockets, and the cases the
protocol must hand back to ASGI (pipelining behind a slower answer, 100-continue, chunked
bodies, HTTP/1.0)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.spool import FRAME_HEADER
from fidelia.store import Store
from tests.collector.test_rejections import CASES, PV, body
from tests.conftest import LiveServer, count_events, make_settings

BATCH = body("{site}", PV, {"type": "product_view", "url": "https://shop.example/r/b", "product_id": "p1"})


@pytest.fixture
def servers(store: Store, site_id: str, tmp_path: Path) -> Iterator[dict[str, LiveServer]]:
    """Two servers on the same store and site: the protocol path on, and off."""
    for name in ("fast", "asgi"):
        (tmp_path / name).mkdir()
    fast = LiveServer(make_settings(tmp_path / "fast", [site_id]), store).start()
    asgi = LiveServer(make_settings(tmp_path / "asgi", [site_id], collector_fast_path=False), store).start()
    yield {"fast": fast, "asgi": asgi}
    fast.stop()
    asgi.stop()


def answer(server: LiveServer, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any], bytes]:
    with server.client() as client:
        response = client.request(method, path, **kwargs)
    headers = {k: v for k, v in response.headers.multi_items() if k not in ("date", "set-cookie")}
    cookies = sorted(_cookie_shape(v) for k, v in response.headers.multi_items() if k == "set-cookie")
    return response.status_code, {"headers": headers, "cookies": cookies}, response.content


def _cookie_shape(value: str) -> str:
    """A Set-Cookie value with its (random) value left out: name and attributes."""
    name, _, rest = value.partition("=")
    return name + ";" + rest.partition(";")[2]


def protocol_answers(server: LiveServer) -> int:
    return server.services.metrics.answered_in_protocol


@pytest.mark.parametrize(("name", "make", "content_type", "status", "code", "field"), CASES,
                         ids=[case[0] for case in CASES])
def test_a_refused_batch_gets_the_same_answer_on_both_paths(
    servers: dict[str, LiveServer], site_id: str, name: str, make: Any, content_type: str, status: int, code: str,
    field: str | None,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    fast, asgi = (answer(servers[p], "POST", "/collect", content=make(site_id), headers=headers) for p in servers)
    assert fast[0] == asgi[0] == status
    assert fast[1] == asgi[1]
    assert json.loads(fast[2]) == json.loads(asgi[2])
    assert json.loads(fast[2])["error"]["code"] == code
    # A body declared over the limit is left to the ASGI route, which refuses it before reading it.
    assert protocol_answers(servers["fast"]) == (0 if name == "body over the limit" else 1)
    assert protocol_answers(servers["asgi"]) == 0


def test_an_accepted_batch_gets_the_same_answer_and_is_stored_once(
    servers: dict[str, LiveServer], store: Store, site_id: str
) -> None:
    content = BATCH.replace(b"{site}", site_id.encode())
    headers = {"Content-Type": "text/plain", "Origin": "https://shop.example"}
    fast, asgi = (answer(servers[p], "POST", "/collect", content=content, headers=headers) for p in servers)
    assert fast[0] == asgi[0] == 204
    assert fast[1] == asgi[1]
    assert [c.split(";")[0] for c in fast[1]["cookies"]] == ["fid_sid", "fid_vid", "fid_vt"]
    assert fast[1]["headers"]["access-control-allow-origin"] == "https://shop.example"
    assert protocol_answers(servers["fast"]) == 1
    assert protocol_answers(servers["asgi"]) == 0
    for server in servers.values():
        assert server.flush()
    assert count_events(store, site_id) == 4


def test_the_pixel_gets_the_same_answer_on_both_paths(servers: dict[str, LiveServer], site_id: str) -> None:
    params = {"site_id": site_id, "type": "pageview", "url": "https://shop.example/r/a"}
    fast, asgi = (answer(servers[p], "GET", "/p.gif", params=params) for p in servers)
    assert fast[0] == asgi[0] == 200
    assert fast == asgi
    assert fast[2].startswith(b"GIF89a")
    missing = [answer(servers[p], "GET", "/p.gif", params={"type": "pageview"}) for p in servers]
    assert missing[0] == missing[1]
    assert missing[0][0] == 422


def test_a_rate_limited_client_gets_the_same_429(store: Store, site_id: str, tmp_path: Path) -> None:
    answers = []
    for fast_path in (True, False):
        (tmp_path / str(fast_path)).mkdir()
        settings = make_settings(tmp_path / str(fast_path), [site_id], collector_fast_path=fast_path,
                                 rate_limit_per_minute=1, rate_limit_burst=1, rate_limit_exempt="")
        server = LiveServer(settings, store).start()
        try:
            content = BATCH.replace(b"{site}", site_id.encode())
            statuses = [answer(server, "POST", "/collect", content=content,
                               headers={"Content-Type": "text/plain"}) for _ in range(3)]
        finally:
            server.stop()
        answers.append(statuses[-1])
        assert statuses[-1][0] == 429
    assert answers[0][1] == answers[1][1]  # Retry-After included
    assert "retry-after" in answers[0][1]["headers"]
    assert json.loads(answers[0][2]) == json.loads(answers[1][2])


# --- what the protocol hands back to ASGI, and connections -------------------------------------


def raw_exchange(server: LiveServer, payload: bytes, expect: int) -> list[bytes]:
    """Send raw bytes on one connection and read `expect` answers (status line + headers + body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        answers: list[bytes] = []
        while len(answers) < expect:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            while b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if len(rest) < length:
                    break
                answers.append(head + b"\r\n\r\n" + rest[:length])
                data = rest[length:]
        return answers


def post(site_id: str, extra: bytes = b"") -> bytes:
    content = BATCH.replace(b"{site}", site_id.encode())
    return (b"POST /collect HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(content) + content)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def test_pipelined_answers_keep_their_order_behind_an_asgi_route(live: LiveServer, site_id: str) -> None:
    health = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    answers = raw_exchange(live, health + post(site_id) + health + post(site_id) + post(site_id), expect=5)
    assert [status_of(a) for a in answers] == [200, 204, 200, 204, 204]
    assert b'"status":"ok"' in answers[0] and b'"status":"ok"' in answers[2]
    assert live.flush()


def test_keep_alive_serves_many_batches_on_one_connection(live: LiveServer, store: Store, site_id: str) -> None:
    answers = raw_exchange(live, post(site_id) * 20, expect=20)
    assert [status_of(a) for a in answers] == [204] * 20
    assert protocol_answers(live) == 20
    assert live.flush()
    assert count_events(store, site_id) == 40


def test_expect_continue_and_chunked_bodies_go_through_asgi(live: LiveServer, store: Store, site_id: str) -> None:
    content = BATCH.replace(b"{site}", site_id.encode())
    chunked = (b"POST /collect HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n" % len(content) + content + b"\r\n0\r\n\r\n")
    assert [status_of(a) for a in raw_exchange(live, chunked, expect=1)] == [204]
    with httpx.Client(base_url=live.base_url) as client:
        response = client.post("/collect", content=content,
                               headers={"Content-Type": "text/plain", "Expect": "100-continue"})
    assert response.status_code == 204
    assert protocol_answers(live) == 0
    assert live.flush()
    assert count_events(store, site_id) == 4


def test_http_1_0_is_answered_and_closed(live: LiveServer, site_id: str) -> None:
    request = post(site_id).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):  # ends only when the server closes the connection
            data += chunk
    assert status_of(data) == 204
    assert b"connection: close" in data.lower()
    assert protocol_answers(live) == 1


def test_an_unexpected_error_is_a_500_and_the_connection_lives_on(
    live: LiveServer, site_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(body: bytes, max_events: int) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("collector.app.decode_batch", broken)
    answers = raw_exchange(live, post(site_id) + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", expect=2)
    assert [status_of(a) for a in answers] == [500, 200]
    assert b'"code":"internal"' in answers[0] and b"a bug" not in answers[0]


# --- group commit: one spool write for the batches of one loop turn -----------------------------


def spool_frames(server: LiveServer) -> int:
    """Frames in the spool's segments: one per spool `write`."""
    frames = 0
    for path in server.services.settings.spool_dir.glob("*.seg"):
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            (size,) = FRAME_HEADER.unpack_from(data, pos)
            pos += FRAME_HEADER.size + size
            frames += 1
    return frames


def test_the_batches_of_one_loop_turn_share_one_spool_write(store: Store, site_id: str, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, [site_id], flush_interval=3600), store).start()
    try:
        answers = raw_exchange(server, post(site_id) * 20, expect=20)  # one send: read in one turn or two
        assert [status_of(a) for a in answers] == [204] * 20
        assert 1 <= spool_frames(server) < 20
        assert server.flush()
        assert count_events(store, site_id) == 40
    finally:
        server.stop()


def test_a_turn_over_the_spool_limit_keeps_the_batches_that_fit(store: Store, site_id: str, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, [site_id], flush_interval=3600, spool_max_bytes=1500), store).start()
    try:
        answers = raw_exchange(server, post(site_id) * 20, expect=20)
        statuses = [status_of(a) for a in answers]
        fitted = statuses.count(204)
        assert 1 <= fitted < 20 and statuses == [204] * fitted + [503] * (20 - fitted)
        assert b'"code":"spool_full"' in answers[-1]
        assert server.services.metrics.rejected["spool_full"] == 20 - fitted
        assert 0 < server.services.writer.spool.bytes <= 1500
        assert server.flush()
        assert count_events(store, site_id) == 2 * fitted  # each answered 204 stored, no 503 stored
    finally:
        server.stop()


def test_a_pipelined_close_ends_the_connection_after_its_own_answer(live: LiveServer, site_id: str) -> None:
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(post(site_id) + post(site_id, b"Connection: close\r\n"))
        data = b""
        while chunk := sock.recv(65536):  # ends only when the server closes the connection
            data += chunk
    assert data.count(b"HTTP/1.1 204 No Content\r\n") == 2
    assert data.lower().count(b"connection: close") == 1


def test_an_unexpected_error_in_the_spool_commit_is_a_500_for_its_batches(
    live: LiveServer, site_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(rows: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(live.services.writer, "accept", broken)
    answers = raw_exchange(live, post(site_id) * 2 + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", expect=3)
    assert [status_of(a) for a in answers] == [500, 500, 200]
    assert b'"code":"internal"' in answers[0] and b"a bug" not in answers[0]
