"""TCP forwarders on loopback that tests open, slow, stall and cut to make a service
(un)reachable."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from tests.support.services import AMQP_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TcpProxy:
    """Listens on `port` (only while started) and forwards every connection to the target.

    `mode` changes how, at once, for open connections too: "forward"; "delay" (each chunk
    waits `delay` seconds: a slow network); "silent" (bytes are swallowed: a server that
    never answers, a half-open link); "reset" (connections are closed, new ones at once)."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.mode = "forward"
        self.delay = 0.0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for pipe in list(self._pipes):
            pipe.cancel()
        for pipe in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError):
                await pipe

    async def reset(self) -> None:
        """Close every open connection (and refuse new ones while the mode is "reset")."""
        self.mode = "reset"
        for pipe in list(self._pipes):
            pipe.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if self.mode == "silent":
                    continue
                if self.mode == "delay":
                    await asyncio.sleep(self.delay)
                sink.write(data)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sink.close()


class LinkProxy(TcpProxy):
    """A TcpProxy that can cut one of its connections (by the order they were opened) and
    then refuse new ones, leaving the others forwarding."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.links: list[list[asyncio.Task[None]]] = []
        self.refuse_new = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse_new:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        link = []
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)
            link.append(task)
        self.links.append(link)

    def cut(self, index: int) -> None:
        """Close connection `index` and refuse every new one."""
        self.refuse_new = True
        for task in self.links[index]:
            task.cancel()


async def rabbitmq_link_proxy() -> tuple[LinkProxy, str]:
    """A started LinkProxy in front of the tests' RabbitMQ, and the AMQP URL through it."""
    proxy = LinkProxy(target_port=int(AMQP_URL.rsplit(":", 1)[1].strip("/")))
    await proxy.start()
    return proxy, AMQP_URL.replace(AMQP_URL.rsplit(":", 1)[1], f"{proxy.port}/")
