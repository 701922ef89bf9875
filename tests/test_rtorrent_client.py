"""RTorrentClient against a real rtorrent (TCP and unix socket), and its typed errors."""

from __future__ import annotations

import asyncio
import base64
import xmlrpc.client
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from support.rtorrent import DEAD_TRACKER, RTorrentProcess, make_torrent

from pytorrent_core.rtorrent import (
    Action,
    AddFailed,
    Fault,
    Malformed,
    NotFound,
    RemovalRefused,
    RTorrentClient,
    Timeout,
    Torrent,
    Unreachable,
    parse_magnet,
    parse_torrent,
)
from pytorrent_core.rtorrent.client import decode_rows
from pytorrent_core.rtorrent.removal import delete_data
from pytorrent_core.testing import free_port

pytest_plugins = ["support.rtorrent_fixtures"]

MakeTorrent = Callable[..., tuple[bytes, str]]


async def wait_for(check: Callable[[list[Torrent]], bool], client: RTorrentClient,
                   within: float = 10.0) -> list[Torrent]:
    """Poll the list until ``check`` holds, within a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        rows = await client.torrents()
        if check(rows):
            return rows
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {within} s: {rows}")
        await asyncio.sleep(0.05)


def by_hash(rows: list[Torrent]) -> dict[str, Torrent]:
    return {r.hash: r for r in rows}


@pytest.fixture
def client(rtorrent: RTorrentProcess) -> RTorrentClient:
    return RTorrentClient(rtorrent.url, timeout=10)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
async def test_status_on_tcp_and_unix_socket(tmp_path: Path, transport: str) -> None:
    with RTorrentProcess(tmp_path, transport=transport) as process:
        status = await RTorrentClient(process.url).status()
    assert status.client_version == "0.9.8"
    assert status.torrents == 0 and status.down_rate == 0 and status.up_rate == 0


async def test_unix_socket_list_and_add(rtorrent_unix: RTorrentProcess) -> None:
    client = RTorrentClient(rtorrent_unix.url)
    data, info_hash = make_torrent(rtorrent_unix.download_dir, "u.bin", b"u" * 40000)
    assert await client.add_torrent(data, start=True) == info_hash
    rows = await wait_for(lambda rows: rows[0].state == "seeding", client)
    assert [r.hash for r in rows] == [info_hash]


async def test_list_single_and_multi_file(client: RTorrentClient, rtorrent: RTorrentProcess,
                                          make_torrent_in: MakeTorrent) -> None:
    one, one_hash = make_torrent_in("one.bin", b"1" * 50000)
    many, many_hash = make_torrent_in("many", {"a.bin": b"a" * 30000, "d/b.bin": b"b" * 10})
    await client.add_torrent(one, start=True, label="Films & TV/4K")
    await client.add_torrent(many, start=False)
    rows = by_hash(await wait_for(
        lambda rows: any(r.state == "seeding" for r in rows), client))
    seeding, stopped = rows[one_hash], rows[many_hash]
    assert (seeding.name, seeding.size, seeding.completed, seeding.progress) == \
        ("one.bin", 50000, 50000, 1.0)
    assert seeding.label == "Films & TV/4K" and seeding.eta is None
    assert seeding.finished_at and seeding.added_at and seeding.ratio == 0.0
    assert seeding.directory == str(rtorrent.download_dir)
    assert (stopped.state, stopped.size, stopped.label) == ("stopped", 30010, "")
    assert stopped.directory == str(rtorrent.download_dir / "many")
    assert (await client.status()).torrents == 2


async def test_tracker_message_keeps_transfer_state(client: RTorrentClient,
                                                    make_torrent_in: MakeTorrent) -> None:
    data, info_hash = make_torrent_in("t.bin", b"t" * 20000)
    await client.add_torrent(data, start=True)
    rows = await wait_for(lambda rows: bool(rows[0].message), client)
    assert rows[0].state == "seeding" and "Tracker" in rows[0].message


async def test_details(client: RTorrentClient, make_torrent_in: MakeTorrent) -> None:
    data, info_hash = make_torrent_in("many", {"a.bin": b"a" * 40000, "d/b.bin": b"b" * 10})
    await client.add_torrent(data, start=True)
    await wait_for(lambda rows: rows[0].state == "seeding", client)
    details = await client.details(info_hash.lower())
    assert [(f.path, f.size, f.progress, f.priority) for f in details.files] == \
        [("a.bin", 40000, 1.0, 1), ("d/b.bin", 10, 1.0, 1)]
    [tracker] = details.trackers
    assert (tracker.url, tracker.enabled, tracker.seeders, tracker.leechers) == \
        (DEAD_TRACKER, True, 0, 0)
    assert details.peers == []


async def test_unknown_hash_is_not_found(client: RTorrentClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.details("AB" * 20)
    assert "AB" * 20 in str(caught.value)
    with pytest.raises(ValueError):
        await client.details("d.name=")


async def test_every_action(client: RTorrentClient, make_torrent_in: MakeTorrent) -> None:
    a, a_hash = make_torrent_in("a.bin", b"a" * 30000)
    b, b_hash = make_torrent_in("b.bin", b"b" * 30000)
    await client.add_torrent(a, start=False)
    await client.add_torrent(b, start=False)
    both = [a_hash, b_hash]
    missing = "CD" * 20

    assert await client.act(Action.START, [*both, missing]) == \
        {a_hash: None, b_hash: None, missing: f"no torrent {missing} in rTorrent"}
    await wait_for(lambda rows: all(r.state == "seeding" for r in rows), client)
    assert await client.act(Action.PAUSE, both) == {a_hash: None, b_hash: None}
    await wait_for(lambda rows: all(r.state == "paused" for r in rows), client)
    assert await client.act(Action.START, [a_hash]) == {a_hash: None}
    await wait_for(lambda rows: by_hash(rows)[a_hash].state == "seeding", client)
    assert await client.act(Action.STOP, both) == {a_hash: None, b_hash: None}
    await wait_for(lambda rows: all(r.state == "stopped" for r in rows), client)
    assert await client.act(Action.START, [b_hash]) == {b_hash: None}
    assert await client.act(Action.RECHECK, [b_hash]) == {b_hash: None}
    await wait_for(lambda rows: by_hash(rows)[b_hash].state == "seeding", client)
    assert await client.set_label(both, "a/b c%") == {a_hash: None, b_hash: None}
    await wait_for(lambda rows: all(r.label == "a/b c%" for r in rows), client)
    assert await client.act(Action.REMOVE, [a_hash]) == {a_hash: None}
    rows = await wait_for(lambda rows: len(rows) == 1, client)
    assert rows[0].hash == b_hash


async def test_remove_with_data_inside_root(client: RTorrentClient, rtorrent: RTorrentProcess,
                                            make_torrent_in: MakeTorrent) -> None:
    one, one_hash = make_torrent_in("one.bin", b"1" * 30000)
    many, many_hash = make_torrent_in("many", {"a.bin": b"a" * 30000, "d/b.bin": b"b"})
    await client.add_torrent(one, start=True)
    await client.add_torrent(many, start=False)
    assert await client.remove([one_hash, many_hash], data_root=rtorrent.download_dir) == \
        {one_hash: None, many_hash: None}
    assert list(rtorrent.download_dir.iterdir()) == []
    assert await client.torrents() == []


async def test_remove_refuses_data_outside_root(client: RTorrentClient, tmp_path: Path,
                                                rtorrent: RTorrentProcess) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    data, info_hash = make_torrent(outside, "keep.bin", b"k" * 30000)
    await client.add_torrent(data, start=True, directory=str(outside))
    result = await client.remove([info_hash], data_root=rtorrent.download_dir)
    assert result == {info_hash: "refused to delete data outside the download root"}
    assert (outside / "keep.bin").exists()
    assert [r.hash for r in await client.torrents()] == [info_hash]


def test_delete_data_follows_symlinks_before_deciding(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "precious").write_text("x")
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RemovalRefused):
        delete_data(str(root / "link"), root)
    with pytest.raises(RemovalRefused):
        delete_data(str(root / ".." / "outside"), root)
    with pytest.raises(RemovalRefused):
        delete_data(str(root), root)
    assert (outside / "precious").exists()
    (root / "dir").mkdir()
    (root / "dir" / "f").write_text("y")
    delete_data(str(root / "dir"), root)
    assert not (root / "dir").exists()


async def test_add_not_started_then_magnet(client: RTorrentClient,
                                           make_torrent_in: MakeTorrent) -> None:
    data, info_hash = make_torrent_in("x.bin", b"x" * 20000)
    assert await client.add_torrent(data, start=False, label="L") == info_hash
    magnet_hash = "12" * 20
    uri = f"magnet:?xt=urn:btih:{magnet_hash}&dn=m&tr={DEAD_TRACKER}"
    assert await client.add_magnet(uri, start=False, label="mag") == magnet_hash
    b32 = base64.b32encode(bytes.fromhex("34" * 20)).decode()
    assert await client.add_magnet(f"magnet:?xt=urn:btih:{b32}&tr={DEAD_TRACKER}",
                                   start=True) == "34" * 20
    rows = by_hash(await client.torrents())
    assert (rows[info_hash].state, rows[info_hash].label) == ("stopped", "L")
    assert (rows[magnet_hash].state, rows[magnet_hash].label) == ("stopped", "mag")
    assert rows["34" * 20].state in ("downloading", "paused")
    with pytest.raises(AddFailed, match="already"):
        await client.add_torrent(data, start=True)


async def test_add_failure_is_detected(client: RTorrentClient, rtorrent: RTorrentProcess) -> None:
    # rtorrent 0.9.8 answers 0 to load.raw but drops a torrent without trackers.
    data, _ = make_torrent(rtorrent.download_dir, "nope.bin", b"n" * 1000, trackers=())
    with pytest.raises(AddFailed, match="did not load"):
        await client.add_torrent(data, start=True)
    with pytest.raises(AddFailed, match="did not load"):
        await client.add_magnet("magnet:?xt=urn:btih:" + "56" * 20, start=False)
    assert await client.torrents() == []


async def test_hostile_label_and_directory_stay_one_value(
        client: RTorrentClient, rtorrent: RTorrentProcess, tmp_path: Path) -> None:
    label = 'x",d.custom2.set="pwned";$execute2={touch,/tmp/pt-pwned}\\'
    directory = str(tmp_path / 'd",d.custom3.set="pwned";$cat=\\"x')
    data, info_hash = make_torrent(rtorrent.download_dir, "h.bin", b"h" * 1000)
    await client.add_torrent(data, start=False, label=label, directory=directory)
    assert rtorrent.call("d.custom2", info_hash) == ""
    assert rtorrent.call("d.custom3", info_hash) == ""
    assert rtorrent.call("d.directory", info_hash) == directory
    [row] = await client.torrents()
    assert row.label == label and row.directory == directory
    assert not await asyncio.to_thread(Path("/tmp/pt-pwned").exists)


async def test_control_characters_are_refused(client: RTorrentClient,
                                              rtorrent: RTorrentProcess) -> None:
    data, _ = make_torrent(rtorrent.download_dir, "c.bin", b"c" * 1000)
    with pytest.raises(ValueError):
        await client.add_torrent(data, start=False, directory="/tmp/a\nd.erase=")
    with pytest.raises(ValueError):
        await client.add_torrent(data, start=False, label="a\nb")
    assert await client.torrents() == []


def test_parse_torrent_and_magnet(tmp_path: Path) -> None:
    data, info_hash = make_torrent(tmp_path, "p.bin", b"p" * 100, write=False)
    assert parse_torrent(data) == (info_hash, "p.bin")
    for bad in (b"", b"hello", b"d4:infoi1ee", b"de"):
        with pytest.raises(ValueError, match="not a torrent file"):
            parse_torrent(bad)
    assert parse_magnet("magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=N") == ("AB" * 20, "N")
    for bad in ("http://x", "magnet:?dn=x", "magnet:?xt=urn:btih:zz", "magnet:?xt=urn:btih:"
                + "a" * 40 + "\n"):
        with pytest.raises(ValueError, match="not a magnet link"):
            parse_magnet(bad)


async def test_fault_carries_code(client: RTorrentClient) -> None:
    with pytest.raises(Fault) as caught:
        await client.call("d.multicall2", "", "no-such-view", "d.hash=")
    assert isinstance(caught.value.code, int) and caught.value.code != 0


async def test_stopped_rtorrent_and_wrong_port_are_unreachable(tmp_path: Path) -> None:
    process = RTorrentProcess(tmp_path).start()
    url = process.url
    process.stop()
    for address in (url, f"scgi://127.0.0.1:{free_port()}"):
        with pytest.raises(Unreachable) as caught:
            await RTorrentClient(address).status()
        assert address.split("//")[1] not in str(caught.value)
        assert caught.value.address == address


async def test_missing_socket_and_path_that_is_not_a_socket(tmp_path: Path) -> None:
    with pytest.raises(Unreachable, match="does not exist"):
        await RTorrentClient(f"scgi://{tmp_path}/none.sock").status()
    regular = tmp_path / "file.sock"
    regular.write_text("")
    with pytest.raises(Unreachable, match="not a socket") as caught:
        await RTorrentClient(f"scgi://{regular}").status()
    assert str(tmp_path) not in str(caught.value)


async def test_unknown_host_is_unreachable() -> None:
    with pytest.raises(Unreachable, match="unknown"):
        await RTorrentClient("scgi://no-such-host.invalid:5000", timeout=5).status()


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[[bytes | None], asyncio.Future[str]]]:
    servers: list[asyncio.Server] = []
    held: list[asyncio.StreamWriter] = []

    async def start(reply: bytes | None) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            if reply is None:
                held.append(writer)  # never answer
                return
            writer.write(reply)
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"scgi://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start  # type: ignore[misc]
    for writer in held:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("reply", [
    b"garbage without headers",
    b"HTTP/1.1 404 Not Found\r\n\r\nnope",
    b"Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n<html>not xml-rpc</html>",
    b"Status: 500 Internal\r\n\r\n",
    b"",
])
async def test_a_server_that_is_not_rtorrent_is_malformed(fake_server: Callable[..., object],
                                                          reply: bytes) -> None:
    url = await fake_server(reply)  # type: ignore[misc]
    with pytest.raises(Malformed, match="rTorrent") as caught:
        await RTorrentClient(url, timeout=5).status()
    assert "127.0.0.1" not in str(caught.value)


async def test_a_reply_too_large_is_malformed(fake_server: Callable[..., object]) -> None:
    url = await fake_server(b"Status: 200 OK\r\n\r\n" + b"x" * 5000)  # type: ignore[misc]
    with pytest.raises(Malformed, match="larger"):
        await RTorrentClient(url, max_reply=1024).status()


async def test_a_server_that_never_answers_times_out(fake_server: Callable[..., object]) -> None:
    url = await fake_server(None)  # type: ignore[misc]
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(Timeout, match="0.3 s"):
        await RTorrentClient(url, timeout=0.3).status()
    assert loop.time() - began < 2.0


@pytest.mark.parametrize("rows", [
    [["A" * 40, "a&<b>\"'ä.bin", 100, "", 2**31 - 1], ["B" * 40, "", 0, "x", -1]],
    [],
    [[], []],
])
def test_fast_row_decoder_agrees_with_xmlrpc_client(rows: list[list[object]]) -> None:
    reply = xmlrpc.client.dumps((rows,), methodresponse=True).encode()
    assert decode_rows(reply) == xmlrpc.client.loads(reply, use_builtin_types=True)[0][0]


@pytest.mark.parametrize("reply", [
    xmlrpc.client.dumps(xmlrpc.client.Fault(-501, "x"), methodresponse=True).encode(),
    xmlrpc.client.dumps(([[1.5]],), methodresponse=True).encode(),
    xmlrpc.client.dumps(([[{"a": 1}]],), methodresponse=True).encode(),
    b"\xff<methodResponse>",
])
def test_fast_row_decoder_leaves_other_replies_to_the_general_one(reply: bytes) -> None:
    assert decode_rows(reply) is None


async def test_only_fixed_method_names_reach_rtorrent(client: RTorrentClient) -> None:
    for method in ("execute.throw", "execute2", "system.shutdown.normal"):
        with pytest.raises(ValueError, match="does not call"):
            await client.call(method, "", "touch", "/tmp/pt-pwned")
        with pytest.raises(ValueError, match="does not call"):
            await client.multicall([(method, ("",))])
    assert (await client.status()).client_version == "0.9.8"
