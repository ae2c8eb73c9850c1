#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer harnesses into native/fuzz/corpus/<harness>/.

    python3 native/fuzz/make_seeds.py

Each directory is emptied and rewritten, so the output depends only on this
script. Seeds are small valid and malformed examples; `make -C native fuzz`
copies them to native/build/fuzz-corpus and never writes here.

Input formats (see the harnesses):
  fuzz_http_request  raw bytes of a request head (and, for check_server_response, a few responses)
  fuzz_http_body     a request head and what follows it (bytes 0 and 1 also set the body bound and the splits)
  fuzz_frame_parser  [flags, max_payload param, seed lo, seed hi] + stream
                     flags: bit 0 server role, bits 1-3 max_payload mode, bits 4-5 split mode,
                     bit 6 empty feeds, bit 7 permessage-deflate (the seed's top bits: inflater
                     window bits - 8 in 13-15, no context takeover in 12, chunk size in 10-11)
  fuzz_deflate       [flags, param, seed lo, seed hi] + messages (round trip) or compressed bytes
                     flags: bits 0-2 window bits - 8, bit 3 no context takeover, bit 4 inflate
                     arbitrary bytes, bits 5-6 chunk size, bit 7 release after each message
  fuzz_deflate_negotiation  [config flags, server bits, client bits, cut] + Sec-WebSocket-Extensions value
  fuzz_close_frame   the Close frame payload
  fuzz_utf8          [split seed] + text
  fuzz_server        [config 0, config 1] + steps [flag:2][conn:2][op:4] with arguments
                     (the layout is documented at the top of fuzz_server.cpp); config 1 bit 4
                     turns permessage-deflate on, and then handshake, ws.send and publish take
                     one more byte (the offer, the compress flags): Prog(deflate=True) writes it
"""
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write_all(harness, seeds):
    d = os.path.join(CORPUS, harness)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    names = set()
    for name, data in seeds:
        assert name not in names, name
        names.add(name)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    return len(seeds), sum(len(s) for _, s in seeds)


# ---- HTTP request heads -------------------------------------------------------

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3


def req(lines, method="GET", target="/chat", version="HTTP/1.1", pre=b"", post=b""):
    head = f"{method} {target} {version}\r\n" + "".join(l + "\r\n" for l in lines) + "\r\n"
    return pre + head.encode("latin-1") + post


RFC_HEADERS = [
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    f"Sec-WebSocket-Key: {KEY}",
    "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Version: 13",
]

BASIC = [
    "Host: localhost:8080",
    "Upgrade: websocket",
    "Connection: Upgrade",
    f"Sec-WebSocket-Key: {KEY}",
    "Sec-WebSocket-Version: 13",
]


def without(lines, prefix):
    return [l for l in lines if not l.lower().startswith(prefix.lower())]


def http_seeds():
    s = []
    s.append(("rfc6455_example", req(RFC_HEADERS)))
    s.append(("chrome", req([
        "Host: example.com",
        "Connection: Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "Upgrade: websocket",
        "Origin: https://example.com",
        "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br",
        "Accept-Language: en-US,en;q=0.9",
        "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ], target="/chat?room=1&user=a")))
    s.append(("firefox_keepalive", req([
        "Host: localhost:8080",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Accept: */*",
        "Sec-WebSocket-Version: 13",
        "Origin: http://localhost:8080",
        "Sec-WebSocket-Protocol: v1.json, v2.json",
        "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==",
        "Connection: keep-alive, Upgrade",
        "Upgrade: websocket",
    ], target="/")))
    s.append(("lowercase_tabs", req([
        "host:\tlocalhost",
        "upgrade:\tWebSocket\t",
        "connection: upgrade",
        f"sec-websocket-key:   {KEY}  ",
        "sec-websocket-version: 13",
        "sec-websocket-protocol: graphql-ws",
    ], target="/")))
    s.append(("split_connection_headers", req(BASIC[:2] + ["Connection: keep-alive", "Connection: Upgrade"] + BASIC[3:])))
    s.append(("upgrade_list", req(["Upgrade: h2c, websocket"] + without(BASIC, "upgrade:"))))
    s.append(("leading_crlf", req(BASIC, pre=b"\r\n\r\n")))
    s.append(("early_frame_data", req(BASIC, post=bytes([0x81, 0x85, 1, 2, 3, 4]) + bytes(c ^ k for c, k in zip(b"hello", b"\x01\x02\x03\x04\x01")))))
    s.append(("pipelined_second_request", req(BASIC) + req(RFC_HEADERS)))
    s.append(("plain_get", req(["Host: example.com", "Accept: text/html"], target="/index.html")))
    s.append(("plain_post_body", req(["Host: example.com", "Content-Length: 5", "Content-Type: text/plain"], method="POST", target="/hook", post=b"hello")))
    s.append(("head_request", req(["Host: example.com"], method="HEAD", target="/")))
    s.append(("upgrade_post", req(BASIC, method="POST")))
    s.append(("http10", req(BASIC, version="HTTP/1.0")))
    s.append(("http20", req(BASIC, version="HTTP/2.0")))
    s.append(("http12", req(BASIC, version="HTTP/1.2")))
    s.append(("wrong_path", req(RFC_HEADERS, target="/other?x=/chat")))
    s.append(("no_connection", req(without(BASIC, "connection:"))))
    s.append(("no_host", req(without(BASIC, "host:"))))
    s.append(("two_hosts", req(BASIC + ["Host: other"])))
    s.append(("short_key", req(without(BASIC, "sec-websocket-key:") + ["Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="])))
    s.append(("noncanonical_key", req(without(BASIC, "sec-websocket-key:") + ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR=="])))
    s.append(("key_one_pad", req(without(BASIC, "sec-websocket-key:") + ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ0="])))
    s.append(("two_keys", req(BASIC + [f"Sec-WebSocket-Key: {KEY}"])))
    s.append(("version8", req(without(BASIC, "sec-websocket-version:") + ["Sec-WebSocket-Version: 8"])))
    s.append(("two_versions", req(BASIC + ["Sec-WebSocket-Version: 13"])))
    s.append(("bad_origin", req(without(RFC_HEADERS, "origin:") + ["Origin: https://evil.example"])))
    s.append(("empty_origin", req(without(RFC_HEADERS, "origin:") + ["Origin:"])))
    s.append(("bare_lf", b"GET / HTTP/1.1\nHost: a\n\n\r\n\r\n"))
    s.append(("bare_cr_in_value", req(["Host: a\rb"] + BASIC[1:])))
    s.append(("obs_fold", req(["Host: a", " folded"] + BASIC[1:])))
    s.append(("no_colon", req(["Host a"] + BASIC[1:])))
    s.append(("space_before_colon", req(["Host : a"] + BASIC[1:])))
    s.append(("empty_name", req([": a"] + BASIC)))
    s.append(("nul_in_value", req(["X-A: a\x00b"] + BASIC)))
    s.append(("ctl_in_target", req(BASIC, target="/a\x7fb")))
    s.append(("obs_text_value", req(["X-Name: caf\xe9"] + BASIC)))
    s.append(("no_version", b"GET /\r\nHost: a\r\n\r\n"))
    s.append(("lowercase_version", req(BASIC, version="http/1.1")))
    s.append(("long_version", req(BASIC, version="HTTP/1.10")))
    s.append(("double_space", req(BASIC, target=" /chat")))
    s.append(("incomplete", req(BASIC)[:-2]))
    s.append(("too_many_headers", req([f"X-H{i}: {i}" for i in range(65)])))
    s.append(("sixty_four_headers", req(BASIC + [f"X-H{i}: {i}" for i in range(59)])))
    s.append(("garbage", bytes(range(256))))
    # Server responses, for check_server_response (run on every input).
    s.append(("response_101", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"))
    s.append(("response_101_wrong_accept", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"))
    s.append(("response_426", b"HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nUpgrade: websocket\r\n"
              b"Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"))
    return s


# ---- frames -----------------------------------------------------------------

FIN = 0x80
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
_key_counter = [0]


def http_body_seeds():
    """Heads with each framing, valid and smuggling-shaped, and chunked bodies after them."""
    def post(fields, body=b"", version="HTTP/1.1"):
        head = f"POST /u {version}\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n"
        return head.encode() + body
    chunked = b"5\r\nhello\r\n1;a=b;q=\"x y\"\r\n \r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\n\r\n"
    return [
        ("none", post(["Host: x"])),
        ("length", post(["Content-Length: 5"], b"hello")),
        ("length-repeated", post(["Content-Length: 5", "Content-Length: 5, 5"], b"hello")),
        ("length-differs", post(["Content-Length: 5", "Content-Length: 6"], b"hello!")),
        ("length-signed", post(["Content-Length: +5"], b"hello")),
        ("chunked", post(["Transfer-Encoding: chunked"], chunked)),
        ("chunked-upper-list", post(["Transfer-Encoding: , CHUNKED"], chunked)),
        ("chunked-and-length", post(["Content-Length: 3", "Transfer-Encoding: chunked"], chunked)),
        ("chunked-twice", post(["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], chunked)),
        ("gzip-chunked", post(["Transfer-Encoding: gzip, chunked"], chunked)),
        ("chunked-http10", post(["Transfer-Encoding: chunked"], chunked, "HTTP/1.0")),
        ("chunked-bare-lf", post(["Transfer-Encoding: chunked"], b"5\nhello\r\n0\r\n\r\n")),
        ("chunked-big-size", post(["Transfer-Encoding: chunked"], b"ffffffffffffffffff\r\n")),
        ("body-only", chunked),
    ]


def frame(b0, payload=b"", masked=True, form=None, length=None):
    """A frame; `form` forces the length encoding (7, 16 or 64); `length` overrides the declared length."""
    n = len(payload) if length is None else length
    m = 0x80 if masked else 0
    if form is None:
        form = 7 if n < 126 else 16 if n <= 0xFFFF else 64
    out = bytes([b0])
    if form == 7:
        out += bytes([m | n])
    elif form == 16:
        out += bytes([m | 126]) + struct.pack(">H", n)
    else:
        out += bytes([m | 127]) + struct.pack(">Q", n)
    if masked:
        c = _key_counter[0]
        _key_counter[0] += 1
        key = bytes([(0x37 + c) & 255, (0xFA ^ (c * 7)) & 255, (0x21 + 3 * c) & 255, 0x3D])
        out += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return out + payload


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


def fp(name, flags, stream, param=0, seed=0x1234):
    return (name, bytes([flags, param, seed & 255, seed >> 8]) + stream)


def frame_parser_seeds():
    s = []
    for role, server in (("srv", True), ("cli", False)):
        r = 1 if server else 0
        F = lambda b0, p=b"", **kw: frame(b0, p, masked=server, **kw)
        # split modes in bits 4-5 vary across seeds; max_payload mode in bits 1-3.
        s.append(fp(f"{role}_text", r | 0x00, F(FIN | TEXT, b"Hello, world")))
        s.append(fp(f"{role}_text_utf8", r | 0x10, F(FIN | TEXT, "héllo wörld €𝄞".encode())))
        s.append(fp(f"{role}_text_empty", r | 0x20, F(FIN | TEXT)))
        s.append(fp(f"{role}_binary", r | 0x30, F(FIN | BINARY, bytes(range(40)))))
        s.append(fp(f"{role}_ping_pong", r | 0x50, F(FIN | PING, b"ping") + F(FIN | PONG, b"pong") + F(FIN | PING)))
        s.append(fp(f"{role}_len16", r | 0x20, F(FIN | BINARY, bytes((i * 7) & 255 for i in range(300)))))
        s.append(fp(f"{role}_len64_form", r | 0x10, F(FIN | TEXT, b"x" * 130, form=64)))
        s.append(fp(f"{role}_len16_form_small", r | 0x30, F(FIN | BINARY, b"abc", form=16)))
        s.append(fp(f"{role}_fragmented", r | 0x10,
                    F(TEXT, b"frag") + F(FIN | PING, b"p") + F(CONT, b"men") + F(FIN | CONT, b"ted")))
        # A 4-byte UTF-8 sequence split across three fragments.
        s.append(fp(f"{role}_fragmented_utf8", r | 0x00,
                    F(TEXT, b"a\xf0") + F(CONT, b"\x9d") + F(FIN | CONT, b"\x84\x9ez")))
        s.append(fp(f"{role}_fragmented_empty", r | 0x20, F(BINARY) + F(CONT) + F(FIN | CONT, b"end")))
        s.append(fp(f"{role}_close_reason", r | 0x30, F(FIN | CLOSE, close_payload(1000, b"bye")) + F(FIN | TEXT, b"after")))
        s.append(fp(f"{role}_close_empty", r | 0x00, F(FIN | CLOSE)))
        s.append(fp(f"{role}_close_bad_code", r | 0x10, F(FIN | CLOSE, close_payload(1005))))
        s.append(fp(f"{role}_rsv1", r | 0x00, F(FIN | 0x40 | TEXT, b"x")))
        s.append(fp(f"{role}_opcode3", r | 0x10, F(FIN | 0x3, b"x")))
        s.append(fp(f"{role}_opcode_b", r | 0x20, F(FIN | 0xB)))
        s.append(fp(f"{role}_cont_first", r | 0x30, F(FIN | CONT, b"x")))
        s.append(fp(f"{role}_data_in_fragmented", r | 0x00, F(TEXT, b"a") + F(FIN | TEXT, b"b")))
        s.append(fp(f"{role}_control_126", r | 0x10, F(FIN | PING, b"p" * 126)))
        s.append(fp(f"{role}_fragmented_ping", r | 0x20, F(PING, b"p")))
        s.append(fp(f"{role}_bad_utf8_mid", r | 0x30, F(FIN | TEXT, b"abc\xed\xa0\x80def")))
        s.append(fp(f"{role}_utf8_ends_early", r | 0x00, F(FIN | TEXT, b"abc\xe2\x82")))
        s.append(fp(f"{role}_len_top_bit", r | 0x10, F(FIN | BINARY, b"", form=64, length=1 << 63)))
        s.append(fp(f"{role}_len_huge", r | 0x20 | (6 << 1), F(FIN | BINARY, b"abcd", form=64, length=(1 << 40))))
        s.append(fp(f"{role}_truncated_header", r | 0x00, F(FIN | BINARY, b"x" * 200)[:3]))
        # max_payload = param (mode 1) = 10: a 10-byte message passes, 11 in two fragments fails.
        s.append(fp(f"{role}_max_payload_edge", r | (1 << 1) | 0x10,
                    F(FIN | TEXT, b"0123456789") + F(TEXT, b"01234") + F(FIN | CONT, b"567890"), param=10))
        s.append(fp(f"{role}_max_payload_zero", r | (3 << 1), F(FIN | BINARY) + F(FIN | BINARY, b"x")))
        # The other role's frames: masking is wrong for this role.
        s.append(fp(f"{role}_wrong_masking", r | 0x00, frame(FIN | TEXT, b"hi", masked=not server)))
    return s


# ---- permessage-deflate (RFC 7692) --------------------------------------------------

RSV1 = 0x40


def deflate_messages(messages, wbits=15, no_context_takeover=False, level=6):
    """Each message compressed as RFC 7692 §7.2.1 says: raw DEFLATE, sync flush, 00 00 ff ff removed."""
    out = []
    c = zlib.compressobj(level, zlib.DEFLATED, -max(wbits, 9))
    for m in messages:
        if no_context_takeover:
            c = zlib.compressobj(level, zlib.DEFLATED, -max(wbits, 9))
        if not m:
            out.append(b"\x00")  # §7.2.3.6
            continue
        z = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        assert z.endswith(b"\x00\x00\xff\xff")
        out.append(z[:-4])
    return out


FP_WINDOW_BITS = [15, 15, 15, 15, 8, 9, 11, 13]


def deflate_seed_bits(wbits=15, no_context_takeover=False, chunk=3):
    """The seed bits fuzz_frame_parser reads for its inflater."""
    return (FP_WINDOW_BITS.index(wbits) << 13) | (int(no_context_takeover) << 12) | (chunk << 10)


def frame_parser_deflate_seeds():
    s = []
    hello = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    for role, server in (("srv", True), ("cli", False)):
        r = 1 if server else 0
        F = lambda b0, p=b"", **kw: frame(b0, p, masked=server, **kw)
        # RFC 7692 §7.2.3.1-7.2.3.6 as frames.
        s.append(fp(f"{role}_pmd_hello", r | 0x80, F(FIN | RSV1 | TEXT, hello), seed=deflate_seed_bits()))
        s.append(fp(f"{role}_pmd_hello_fragmented", r | 0x80 | 0x10,
                    F(RSV1 | TEXT, hello[:3]) + F(FIN | CONT, hello[3:]), seed=deflate_seed_bits(chunk=0)))
        s.append(fp(f"{role}_pmd_shared_window", r | 0x80 | 0x20,
                    F(FIN | RSV1 | TEXT, hello) + F(FIN | RSV1 | TEXT, bytes([0xF2, 0x00, 0x11, 0x00, 0x00])),
                    seed=deflate_seed_bits(chunk=1)))
        s.append(fp(f"{role}_pmd_stored", r | 0x80,
                    F(FIN | RSV1 | BINARY, bytes([0x00, 0x05, 0x00, 0xFA, 0xFF]) + b"Hello\x00"), seed=deflate_seed_bits(9)))
        s.append(fp(f"{role}_pmd_bfinal", r | 0x80 | 0x30,
                    F(FIN | RSV1 | TEXT, bytes([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00])) +
                    F(FIN | RSV1 | TEXT, bytes([0xF2, 0x00, 0x11, 0x00, 0x00])), seed=deflate_seed_bits()))
        s.append(fp(f"{role}_pmd_two_blocks", r | 0x80,
                    F(FIN | RSV1 | TEXT, bytes([0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00])),
                    seed=deflate_seed_bits(chunk=2)))
        s.append(fp(f"{role}_pmd_empty", r | 0x80, F(FIN | RSV1 | TEXT, b"\x00") + F(FIN | RSV1 | BINARY),
                    seed=deflate_seed_bits()))
        # Longer compressed messages from zlib, mixed with plain ones and control frames.
        msgs = [("héllo wörld € " * 20).encode(), bytes(range(256)) * 3, b"", b"abcabcabcabd" * 50]
        for wbits, nct in ((15, False), (9, True), (13, False)):
            z = deflate_messages(msgs, wbits, nct)
            stream = (F(FIN | RSV1 | TEXT, z[0]) + F(FIN | TEXT, b"plain") +
                      F(RSV1 | BINARY, z[1][:10]) + F(FIN | PING, b"p") + F(CONT, z[1][10:20]) + F(FIN | CONT, z[1][20:]) +
                      F(FIN | RSV1 | TEXT, z[2]) + F(FIN | RSV1 | BINARY, z[3]) +
                      F(FIN | CLOSE, close_payload(1000)))
            s.append(fp(f"{role}_pmd_mixed_w{wbits}{'_nct' if nct else ''}", r | 0x80 | 0x10, stream,
                        seed=deflate_seed_bits(wbits, nct, 2)))
        # Errors: RSV1 on a continuation and on a control frame, RSV2, bad data,
        # invalid UTF-8 inside compressed text, a message that inflates past max_payload.
        s.append(fp(f"{role}_pmd_rsv1_continuation", r | 0x80, F(RSV1 | TEXT, hello[:3]) + F(FIN | RSV1 | CONT, hello[3:]),
                    seed=deflate_seed_bits()))
        s.append(fp(f"{role}_pmd_rsv1_ping", r | 0x80, F(FIN | RSV1 | PING, b"p"), seed=deflate_seed_bits()))
        s.append(fp(f"{role}_pmd_rsv2", r | 0x80, F(FIN | 0x20 | TEXT, hello), seed=deflate_seed_bits()))
        s.append(fp(f"{role}_pmd_bad_data", r | 0x80, F(FIN | RSV1 | TEXT, b"\xff\xff\xff"), seed=deflate_seed_bits()))
        s.append(fp(f"{role}_pmd_bad_utf8", r | 0x80 | 0x10,
                    F(FIN | RSV1 | TEXT, deflate_messages([b"x" * 3000 + b"\xff" + b"y" * 3000])[0]),
                    seed=deflate_seed_bits(chunk=2)))
        # max_payload = param (mode 1) = 200: 10 000 zeros inflate past it.
        s.append(fp(f"{role}_pmd_too_big", r | 0x80 | (1 << 1),
                    F(FIN | RSV1 | BINARY, deflate_messages([bytes(10000)])[0]), param=200, seed=deflate_seed_bits()))
        # Without the extension, the same compressed frame is a protocol error.
        s.append(fp(f"{role}_pmd_not_negotiated", r, F(FIN | RSV1 | TEXT, hello)))
    return s


def deflate_seeds():
    s = []

    def rt(name, flags, messages, param=6, seed=0x2468):
        body = b""
        for m in messages:
            assert len(m) <= 250
            body += bytes([len(m)]) + m
        s.append((name, bytes([flags & 0xEF, param, seed & 255, seed >> 8]) + body))

    def raw(name, flags, payloads, param=64, seed=0x1357):
        s.append((name, bytes([flags | 0x10, param, seed & 255, seed >> 8]) + b"".join(payloads)))

    rt("rt_hello_w15", 7, [b"Hello", b"Hello", b""])
    rt("rt_text_w8", 0, ["héllo wörld € ".encode() * 10, b"", b"abc" * 80])
    rt("rt_nct_w10_release", 2 | 8 | 0x80 | 0x20, [bytes(range(200)), bytes(range(200))], param=19)
    rt("rt_level0_w12", 4 | 0x40, [b"stored blocks " * 10], param=0)
    s.append(("rt_long_repeat", bytes([7, 9, 0x11, 0x22]) + bytes([255, ord("a"), ord("b"), 10]) + b"0123456789"))
    hello = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    raw("in_hello", 7, [hello])
    raw("in_rfc_examples", 7 | 0x60, [hello, bytes([0xF2, 0x00, 0x11, 0x00, 0x00]),
                                      bytes([0x00, 0x05, 0x00, 0xFA, 0xFF]) + b"Hello\x00",
                                      bytes([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00])], seed=0x0101)
    raw("in_two_blocks", 7, [bytes([0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00])])
    raw("in_zeros_past_limit", 7 | 0x20, deflate_messages([bytes(50000)]), param=10)
    raw("in_window_9", 1, deflate_messages([b"window " * 100], wbits=9))
    raw("in_garbage", 3, [bytes(range(256))])
    return s


def negotiation_seeds():
    offers = [
        "permessage-deflate",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=\"1\\5\"",
        "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=12, permessage-deflate",
        "foo; a=\"b, permessage-deflate\", permessage-deflate ; server_max_window_bits = 9",
        "permessage-deflate; server_max_window_bits=08, permessage-deflate; foo, permessage-deflate; "
        "server_no_context_takeover; server_no_context_takeover, permessage-deflate;",
        ", ,PerMessage-Deflate;Client_Max_Window_Bits=9,,",
        "permessage-deflate; server_max_window_bits=\"10",
    ]
    s = []
    for i, o in enumerate(offers):
        cfg = bytes([i % 8, (i * 5) % 9, (i * 7) % 9 if i % 3 else 0, 200])
        s.append((f"offer_{i}", cfg + o.encode() + b", permessage-deflate; client_max_window_bits=11"))
    return s


# ---- close payloads -------------------------------------------------------------

def close_seeds():
    s = [("empty", b""), ("one_byte", b"\x03")]
    for code in (0, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012,
                 1013, 1014, 1015, 1016, 1100, 2000, 2999, 3000, 3999, 4000, 4999, 5000, 65535):
        s.append((f"code_{code}", close_payload(code)))
    s.append(("reason_ascii", close_payload(1000, b"normal closure")))
    s.append(("reason_utf8", close_payload(1001, "going away — ünïcödé 𝄞".encode())))
    s.append(("reason_max_123", close_payload(4000, b"r" * 123)))
    s.append(("reason_124_too_long", close_payload(4000, b"r" * 124)))
    s.append(("reason_overlong", close_payload(1000, b"\xc0\xaf")))
    s.append(("reason_surrogate", close_payload(1000, b"\xed\xa0\x80")))
    s.append(("reason_truncated", close_payload(1000, b"ok\xe2\x82")))
    s.append(("reason_above_10ffff", close_payload(1000, b"\xf4\x90\x80\x80")))
    s.append(("reason_lone_continuation", close_payload(3000, b"a\x80b")))
    s.append(("bad_code_bad_reason", close_payload(1005, b"\xff")))
    return s


# ---- UTF-8 -----------------------------------------------------------------------

def utf8_seeds():
    texts = [
        ("empty", b""),
        ("ascii", b"Hello, world! 0123456789"),
        ("ascii_long", b"The quick brown fox jumps over the lazy dog. " * 3),
        ("two_byte", "ÀÉÎÕÜ ß ñ".encode()),
        ("three_byte", "€ 日本語 ✓".encode()),
        ("four_byte", "𝄞 😀 𐍈".encode()),
        ("boundaries", "".join(chr(c) for c in (0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF,
                                                0x10000, 0x10FFFF)).encode()),
        ("kuhn_mixed", "κόσμε — Ѕрасе Ꭰ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢".encode()),
        ("overlong_2", b"\xc0\x80"),
        ("overlong_2_c1", b"a\xc1\xbf"),
        ("overlong_3", b"\xe0\x80\x80"),
        ("overlong_3_edge", b"\xe0\x9f\xbf"),
        ("overlong_4", b"\xf0\x80\x80\x80"),
        ("overlong_4_edge", b"\xf0\x8f\xbf\xbf"),
        ("overlong_4_truncated", b" \xf0\x8e"),  # fails at 8E though the text ends there
        ("surrogate_high", b"\xed\xa0\x80"),
        ("surrogate_low", b"\xed\xbf\xbf"),
        ("surrogate_pair", b"\xed\xa0\xbd\xed\xb8\x80"),
        ("above_max", b"\xf4\x90\x80\x80"),
        ("lead_f5", b"\xf5\x80\x80\x80"),
        ("lead_ff", b"ab\xff"),
        ("lone_continuation", b"a\x80b"),
        ("truncated_2", b"abc\xc3"),
        ("truncated_3", b"abc\xe2\x82"),
        ("truncated_4", b"abc\xf0\x9f\x98"),
        ("missing_continuation", b"\xe2\x82a"),
        ("ascii_then_multibyte_at_7", b"1234567\xc3\xa9" + b"abcdefgh" * 2),
        ("ascii_then_bad_at_8", b"12345678\x80"),
        ("ascii_then_bad_at_15", b"abcdefghijklmno\xfe"),
        ("noncharacters", "\ufdd0\ufffe\U0001fffe".encode()),
    ]
    seeds = []
    for i, (name, t) in enumerate(texts):
        seeds.append((name, bytes([i * 37 & 255]) + t))
    return seeds


# ---- the whole server -------------------------------------------------------------
#
# A program for fuzz_server.cpp: two config bytes, then steps. Each helper is one step.

# permessage-deflate offers of the handshake's offer byte (bits 0-2), as kOffers in fuzz_server.cpp;
# bit 3 puts a declined offer first, bit 4 another extension on a line of its own.
OFFER_NONE, OFFER_PLAIN, OFFER_CLIENT_BITS, OFFER_NO_CONTEXT, OFFER_SERVER_BITS_9, OFFER_CLIENT_NCT_9, \
    OFFER_BITS_8, OFFER_MALFORMED = range(8)
OFFER_DECLINED_FIRST, OFFER_OTHER_EXTENSION = 8, 16
# compress argument of send/publish with deflate on
BY_THRESHOLD, COMPRESS, NO_COMPRESS, BOTH_FLAGS = range(4)


class Prog:
    def __init__(self, backpressure=1, drop=False, sockbuf=0, echo=False, rate=False, small_unconsumed=False,
                 max_payload=2, max_connections=False, max_per_ip=False,
                 deflate=False, small_budget=False, threshold0=False, window_limits=False):
        c0 = backpressure | (4 if drop else 0) | (sockbuf << 3) | (32 if echo else 0) | (64 if rate else 0) \
            | (128 if small_unconsumed else 0)
        c1 = max_payload | (4 if max_connections else 0) | (8 if max_per_ip else 0) | (16 if deflate else 0) \
            | (32 if small_budget else 0) | (64 if threshold0 else 0) | (128 if window_limits else 0)
        self.deflate = deflate
        self.b = bytearray([c0, c1])

    def op(self, op, conn=0, flag=0, *args):
        self.b.append(flag << 6 | conn << 4 | op)
        self.b.extend(args)
        return self

    # With deflate on, handshake, send and publish take one more byte: the offer, the compress flags.
    def _z(self, v): return [v] if self.deflate else []
    def new(self, c=0): return self.op(0, c)
    def handshake(self, c=0, how=0, offer=OFFER_PLAIN): return self.op(1, c, how, *self._z(offer))
    def raw(self, c, data): return self.op(2, c, 0, len(data), *data)
    # spec: [len class:3][rsv1:1][no fin:1][opcode index:3]; opcode index 0 text, 1 binary,
    # 2 continuation, 3 ping, 4 pong, 5 close, 6 opcode 3, 7 opcode 0xB.
    def frame(self, c, kind, cls=1, arg=None, fin=True, rsv=False, extra=b""):
        spec = cls << 5 | (16 if rsv else 0) | (0 if fin else 8) | kind
        args = [] if arg is None else [arg]
        return self.op(3, c, 0, spec, *args, *extra)
    def text(self, c, n, fin=True, rsv=False): return self.frame(c, 0, 1, n, fin, rsv)
    def binary(self, c, n, fin=True, rsv=False): return self.frame(c, 1, 1, n, fin, rsv)
    def cont(self, c, n, fin=True, rsv=False): return self.frame(c, 2, 1, n, fin, rsv)
    def close_frame(self, c, code, reason_len=0):
        return self.frame(c, 5, 1, 2 + reason_len, extra=bytes([code >> 8, code & 255]))
    def pings(self, c, count, plen=0, scale=0): return self.op(4, c, scale, count, plen)
    def read(self, c, n=255, all=False): return self.op(5, c, 3 if all else 0, n)
    def reading(self, c, on): return self.op(6, c, 1 if on else 0)
    def client_close(self, c, how=0): return self.op(7, c, how)
    def send(self, c, kind, n, compress=BY_THRESHOLD): return self.op(8, c, kind, n, *self._z(compress))
    def ws_close(self, c, how=0): return self.op(9, c, how)
    def terminate(self, c, raw=False): return self.op(10, c, 1 if raw else 0)
    def subscribe(self, c, topic): return self.op(11, c, topic)
    def unsubscribe(self, c, topic): return self.op(12, c, topic)
    def publish(self, topic, n, binary=False, sender=3, compress=BY_THRESHOLD):
        return self.op(13, sender, topic, (n << 1 | binary) & 255, *self._z(compress))
    def advance(self, times=1):
        while times > 0:
            f = 3 if times >= 8 else 2 if times >= 4 else 1 if times >= 2 else 0
            self.op(14, 0, f)
            times -= 1 << f
        return self
    def shutdown(self, graceful=False): return self.op(15, 0, 1 if graceful else 0)
    def stop(self): return self.op(15, 0, 2)
    def burst(self, c, count, len8): return self.op(15, c, 3, count, len8)

    def open(self, c=0, how=0, offer=OFFER_PLAIN): return self.new(c).handshake(c, how, offer).advance(2)

    def bytes(self): return bytes(self.b)


def server_seeds():
    s = []
    p = Prog(echo=True).open(0).text(0, 5).advance(2).binary(0, 40).advance(2) \
        .text(0, 3, fin=False).cont(0, 4).advance(2).close_frame(0, 1000, 3).advance(4)
    s.append(("handshake_echo", p.bytes()))
    p = Prog(echo=True, sockbuf=1).new(0).handshake(0, 1).advance(4).send(0, 0, 20).advance(2)
    s.append(("handshake_early_frame", p.bytes()))
    p = Prog().new(0).handshake(0, 2).advance(2).send(0, 1, 10).advance(2).ws_close(0, 0).advance(2) \
        .close_frame(0, 1000).advance(4)
    s.append(("handshake_split_server_close", p.bytes()))
    p = Prog().new(0).handshake(0, 3).advance(4).new(1).raw(1, b"GET / HTTP/1.0\r\n\r\n").advance(4) \
        .new(2).raw(2, b"\x00\x01garbage\r\n\r\n").advance(4)
    s.append(("refused_handshakes", p.bytes()))
    p = Prog().open(0).pings(0, 3, 4).advance(2).frame(0, 4, 1, 4).advance(2).read(0, all=True).pings(0, 20, 125) \
        .advance(4)
    s.append(("pings_and_pongs", p.bytes()))
    p = Prog(sockbuf=0).open(0).reading(0, False).pings(0, 10, 0).advance(2).reading(0, True).advance(4)
    s.append(("pings_while_not_reading", p.bytes()))
    p = Prog(sockbuf=0).open(0).reading(0, False).pings(0, 63, 125).advance(4).reading(0, True).advance(4)
    s.append(("ping_burst_slow_reader", p.bytes()))
    p = Prog().open(0).close_frame(0, 1000, 5).advance(4).client_close(0).advance(2)
    s.append(("client_close_1000", p.bytes()))
    p = Prog().open(0).frame(0, 5, 0).advance(4).client_close(0, 1).advance(4)
    s.append(("client_close_no_code", p.bytes()))
    p = Prog().open(0).close_frame(0, 1005).advance(4)
    s.append(("client_close_bad_code", p.bytes()))
    p = Prog().open(0).ws_close(0, 2).advance(2).read(0, all=True).close_frame(0, 4000).advance(4)
    s.append(("server_close_4000", p.bytes()))
    p = Prog().open(0).send(0, 0, 10).terminate(0).advance(2).terminate(0, raw=True).send(0, 1, 1).advance(2)
    s.append(("terminate", p.bytes()))
    p = Prog().open(0).client_close(0, 1).advance(4)
    s.append(("client_fin", p.bytes()))
    p = Prog().open(0).client_close(0, 2).send(0, 1, 100).advance(4)
    s.append(("client_shut_rd_then_send", p.bytes()))
    p = Prog().open(0).open(1).open(2).subscribe(0, 1).subscribe(1, 1).subscribe(2, 2).advance(1) \
        .publish(1, 10).publish(2, 20, binary=True).publish(1, 30, sender=1).advance(2) \
        .unsubscribe(0, 1).publish(1, 5).advance(2)
    s.append(("publish_topics", p.bytes()))
    p = Prog(backpressure=0, sockbuf=0).open(0).open(1).subscribe(0, 0).subscribe(1, 0).reading(0, False) \
        .advance(1)
    for _ in range(6):
        p.publish(0, 200, binary=True)
    p.advance(2).read(0, all=True).advance(2)
    s.append(("publish_slow_subscriber", p.bytes()))
    p = Prog(backpressure=1, sockbuf=0).open(0).reading(0, False)
    for _ in range(6):
        p.send(0, 3, 40)
    p.advance(4).reading(0, True).advance(8)
    s.append(("backpressure_close", p.bytes()))
    p = Prog(backpressure=1, drop=True, sockbuf=0).open(0).reading(0, False)
    for _ in range(6):
        p.send(0, 3, 40)
    p.advance(4).reading(0, True).advance(8)
    s.append(("backpressure_drop", p.bytes()))
    p = Prog(backpressure=1, sockbuf=1).open(0).reading(0, False).burst(0, 20, 100).advance(4).reading(0, True) \
        .advance(4)
    s.append(("send_burst", p.bytes()))
    p = Prog(max_payload=1).open(0).frame(0, 1, 4, 20).advance(4)
    s.append(("message_too_big", p.bytes()))
    p = Prog().open(0).frame(0, 0, 7, 4, extra=b"a\xff\xfeb").advance(4)
    s.append(("text_bad_utf8", p.bytes()))
    p = Prog().open(0).frame(0, 6, 1, 1).advance(2).open(1).frame(1, 0, 1, 1, rsv=True).advance(2) \
        .open(2).cont(2, 3).advance(2).open(3).frame(3, 3, 3).advance(2)
    s.append(("protocol_errors", p.bytes()))
    p = Prog(rate=True).open(0)
    for _ in range(8):
        p.text(0, 2)
    p.advance(4)
    s.append(("rate_limit", p.bytes()))
    p = Prog(small_unconsumed=True, max_payload=1, sockbuf=3).open(0)
    for _ in range(10):
        p.frame(0, 1, 4, 15)
    p.advance(8)
    s.append(("reading_paused", p.bytes()))
    # (maxConnectionsPerIp is left to the fuzzer: see regressions/fuzz_server/per_ip_place_leak.)
    p = Prog(max_connections=True).open(0).open(1).open(2).client_close(0).advance(2).open(0)
    s.append(("connection_limits", p.bytes()))
    p = Prog().open(0).open(1).send(1, 0, 4).shutdown(graceful=True).advance(2).close_frame(0, 1001).advance(4)
    s.append(("shutdown_graceful", p.bytes()))
    p = Prog().open(0).shutdown().advance(1).new(1).advance(1)
    s.append(("shutdown_now", p.bytes()))
    p = Prog().open(0).stop().advance(1)
    s.append(("request_stop", p.bytes()))
    p = Prog(sockbuf=1, echo=True).open(0).frame(0, 1, 5, 10).advance(8).read(0, all=True).advance(8)
    s.append(("large_frame_echo", p.bytes()))
    return s + server_deflate_seeds()


def server_deflate_seeds():
    """permessage-deflate: config bit 1.4 on, and the offers, compress flags and RSV1 frames it brings."""
    s = []
    # Compressed messages both ways, echoed: whole, fragmented (RSV1 on the first frame only), large.
    p = Prog(echo=True, deflate=True).open(0).text(0, 200, rsv=True).advance(2).binary(0, 100, rsv=True).advance(2) \
        .text(0, 60, fin=False, rsv=True).cont(0, 70, fin=False).cont(0, 80).advance(2) \
        .frame(0, 0, 6, 20, rsv=True).advance(4).text(0, 30).advance(2).close_frame(0, 1000).advance(4)
    s.append(("deflate_echo", p.bytes()))
    # By the threshold (1 KiB), compress: true, compress: false, both flags, a ping asked to compress.
    p = Prog(deflate=True, backpressure=3).open(0).send(0, 2, 20, COMPRESS).send(0, 0, 250).send(0, 0, 10) \
        .send(0, 1, 10, COMPRESS).send(0, 3, 20, NO_COMPRESS).send(0, 0, 255, BOTH_FLAGS).send(0, 0, 0, COMPRESS) \
        .send(0, 3, 8).advance(4).send(0, 0, 250, COMPRESS).send(0, 0, 250, COMPRESS).advance(4)
    s.append(("deflate_send_flags", p.bytes()))
    # Every offer, one client each, talking both ways.
    for i, offer in enumerate([OFFER_CLIENT_BITS, OFFER_NO_CONTEXT, OFFER_SERVER_BITS_9, OFFER_CLIENT_NCT_9,
                               OFFER_BITS_8, OFFER_MALFORMED, OFFER_NONE | OFFER_DECLINED_FIRST,
                               OFFER_NO_CONTEXT | OFFER_DECLINED_FIRST | OFFER_OTHER_EXTENSION]):
        p = Prog(deflate=True, threshold0=i % 2 == 1).open(0, offer=offer)
        for _ in range(3):  # (the binary send at an even step: its payload is made of words)
            p.text(0, 250, rsv=True).send(0, 3, 8).send(0, 0, 250, COMPRESS).advance(2)
        p.send(0, 3, 16, NO_COMPRESS).send(0, 0, 100).advance(2)
        p.frame(0, 1, 4, 40, rsv=True).advance(4)
        s.append((f"deflate_offer_{i}", p.bytes()))
    # The budget (320 KiB): the first connection's inflate window and its own deflate stream fit;
    # the next ones are forced to no context takeover; a closed one gives its share back.
    p = Prog(deflate=True, small_budget=True).open(0).send(0, 0, 250, COMPRESS).advance(2) \
        .open(1).open(2, offer=OFFER_CLIENT_BITS)
    for c in range(3):
        p.send(c, 0, 250, COMPRESS).text(c, 250, rsv=True).send(c, 0, 250, COMPRESS).text(c, 250, rsv=True)
    p.advance(4).client_close(0).advance(2).open(0).send(0, 0, 250, COMPRESS).text(0, 250, rsv=True).advance(4)
    s.append(("deflate_small_budget", p.bytes()))
    # A publish compressed once per window size, to subscribers with and without context takeover,
    # and one without deflate; then a send that must not refer to what the publish skipped.
    p = Prog(deflate=True, threshold0=True).open(0).open(1, offer=OFFER_NO_CONTEXT) \
        .open(2, offer=OFFER_SERVER_BITS_9).open(3, offer=OFFER_NONE)
    for c in range(4):
        p.subscribe(c, 1)
    p.send(0, 0, 200).advance(1).publish(1, 120).publish(1, 60, binary=True, compress=NO_COMPRESS) \
        .publish(1, 100, sender=2, compress=COMPRESS).send(0, 0, 200).advance(4)
    s.append(("deflate_publish", p.bytes()))
    # The server's own window limits (11, 10 bits): offers without client_max_window_bits are declined.
    p = Prog(deflate=True, window_limits=True).open(0, offer=OFFER_CLIENT_BITS).open(1, offer=OFFER_CLIENT_NCT_9) \
        .open(2, offer=OFFER_PLAIN)
    for c in range(3):
        p.send(c, 0, 250).text(c, 250, rsv=True)
    p.advance(4)
    s.append(("deflate_window_limits", p.bytes()))
    # RSV1 where it is wrong: a ping, a continuation, a message inside a compressed one, and
    # RSV1 on a connection without deflate.
    p = Prog(deflate=True).open(0).frame(0, 3, 1, 4, rsv=True).advance(2) \
        .open(1).text(1, 20, fin=False, rsv=True).cont(1, 20, rsv=True).advance(2) \
        .open(2).text(2, 20, fin=False, rsv=True).text(2, 20, rsv=True).advance(2) \
        .open(3, offer=OFFER_NONE).text(3, 20, rsv=True).advance(4)
    s.append(("deflate_rsv1_misuse", p.bytes()))
    # A compressed message past maxPayload (1000), and compressed text that is not UTF-8.
    p = Prog(deflate=True, max_payload=1).open(0).frame(0, 1, 6, 8, rsv=True).advance(4) \
        .open(1).frame(1, 0, 7, 4, rsv=True, extra=b"a\xff\xfeb").advance(4)
    s.append(("deflate_too_big_bad_utf8", p.bytes()))
    # Backpressure with compressed sends to a client that does not read.
    p = Prog(deflate=True, threshold0=True, backpressure=0, sockbuf=0).open(0).reading(0, False)
    for _ in range(6):
        p.send(0, 3, 40)
    p.advance(4).reading(0, True).advance(8)
    s.append(("deflate_backpressure", p.bytes()))
    return s


def main():
    total_files = total_bytes = 0
    for harness, seeds in (("fuzz_http_request", http_seeds()),
                           ("fuzz_http_body", http_body_seeds()),
                           ("fuzz_frame_parser", frame_parser_seeds() + frame_parser_deflate_seeds()),
                           ("fuzz_deflate", deflate_seeds()),
                           ("fuzz_deflate_negotiation", negotiation_seeds()),
                           ("fuzz_close_frame", close_seeds()),
                           ("fuzz_utf8", utf8_seeds()),
                           ("fuzz_server", server_seeds())):
        n, size = write_all(harness, seeds)
        total_files += n
        total_bytes += size
        print(f"{harness}: {n} seeds, {size} bytes")
    print(f"total: {total_files} files, {total_bytes} bytes")


if __name__ == "__main__":
    main()
