"""Where test clients publish their client ID metadata documents: a loopback web server (plain http, or https
with a self-signed certificate made here), in a thread, serving whatever documents a test puts in `docs`."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


def _self_signed(folder: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@contextmanager
def document_server(https: bool = False) -> Iterator[dict[str, Any]]:
    """`{"base": url, "docs": {path: document}}`; `/redirect/{path}` answers 302 to `/{path}`, `/big` 8 KiB."""
    docs: dict[str, Any] = {}

    async def serve(request: Request) -> Response:
        path = request.path_params["path"]
        if path.startswith("redirect/"):
            return RedirectResponse("/" + path.removeprefix("redirect/"), 302)
        if path == "big":
            return JSONResponse({"client_id": str(request.url), "pad": "x" * 8192})
        if path not in docs:
            return JSONResponse({"error": "not found"}, 404)
        return JSONResponse(docs[path])

    app = Starlette(routes=[Route("/{path:path}", serve)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        tls = dict(zip(("ssl_certfile", "ssl_keyfile"), _self_signed(Path(folder)))) if https else {}
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, **tls))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        base = f"{'https' if https else 'http'}://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/probe", verify=False, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        try:
            yield {"base": base, "docs": docs}
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()


def client_document(url: str, redirect_uris: list[str], **extra: Any) -> dict[str, Any]:
    """A valid document for a public MCP client published at `url`."""
    return {"client_id": url, "client_name": "Test MCP client", "redirect_uris": redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", **extra}
