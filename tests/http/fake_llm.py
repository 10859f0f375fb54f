#!/usr/bin/env python3
"""A loopback server speaking the OpenAI, Anthropic and Ollama chat APIs, with
scripted faults, for moa's HTTP tests and benchmarks. 127.0.0.1 only, a free port
(printed as "PORT n" on stdout), and it stops by itself: after --lifetime seconds,
or as soon as its stdin closes (the test that started it is gone).

The model name scripts the behaviour; several directives join with '+', and any
':suffix' just makes the name (and its counters) unique to one test:
  ok                      answer at once
  delay-MS                answer after MS milliseconds
  fail-STATUS-N           the first N requests get STATUS (with a provider error body)
  retry-after-S-N         the first N requests get 429 with Retry-After: S (seconds)
  reset-N                 the first N requests have their connection reset
  close-reused-N          the first N requests that arrive on a connection which already
                          served one are met with a close and no answer (a kept-alive
                          connection the server timed out just as the request came)
  slow-first-MS           wait MS before sending anything
  cut-N                   the first N streamed answers stop midway (no end marker)
  malformed               a 200 whose body is not JSON
  trailing-junk           a 200 whose JSON object is followed by other text
  huge                    a 40 MB answer
  flaky-P                 each request fails with probability P% (503, 429, reset)
  echo-key                a 401 whose message echoes the key, as some providers do
  echo-json-STATUS        STATUS with a JSON error echoing every header (Basic auth
                          decoded), trimmed as servers do, and the request body
  echo-text-STATUS        the same as a text/plain body, the key straddling char 300
  echo-stream             a 200 stream whose first event is {"error": ...} echoing it
  stream-error            a 200 stream: some text, then an {"error": ...} event
  ignore-stream           answers a streamed request with one whole JSON body
  sse-ctype-CT            streams with Content-Type CT (plain = text/plain, none)
  split-emoji             streams an emoji whose surrogate halves are in two chunks
  lone-surrogate          streams a chunk holding an unpaired high surrogate
  gzip                    gzip-encodes the whole body (whatever the client accepts)
  hang                    accepts the request and never answers
  stall                   a stream that sends half its events, then nothing
  usage-IN-OUT            report IN input and OUT output tokens (default 11 and 7)
  cached-K                K of the input tokens were read from the prompt cache
                          (OpenAI prompt_tokens_details; Anthropic cache_read_input_tokens,
                          which Anthropic counts apart from input_tokens)
  no-usage                report no usage at all
  usage-with-choice       OpenAI streams: usage in the last chunk with a choice (as
                          Together does), not in a chunk of its own
GET /__log returns every request as JSON lines: t (seconds), path, model, status.
"""
import argparse
import asyncio
import base64
import gzip
import json
import os
import random
import sys
import time

COUNTS = {}
LOG = []
RNG = random.Random(7)


def directives(model):
    return model.split(":")[0].split("+")


def take(model, key, n):
    """True for the first n requests of (model, key)."""
    k = (model, key)
    COUNTS[k] = COUNTS.get(k, 0) + 1
    return COUNTS[k] <= n


def answer_text(api, body):
    msgs = body.get("messages", [])
    user = msgs[-1]["content"] if msgs else ""
    return "answer from %s to: %s" % (body.get("model", "?"), str(user)[:40])


def usage_of(model):
    """(input, output, cached, reported) tokens scripted by the model name."""
    tin, tout, cached = 11, 7, 0
    for d in directives(str(model)):
        if d.startswith("usage-") and d.count("-") == 2 and d.split("-")[1].isdigit():
            tin, tout = int(d.split("-")[1]), int(d.split("-")[2])
        elif d.startswith("cached-"):
            cached = int(d.split("-")[1])
    return tin, tout, cached, "no-usage" not in directives(str(model))


def usage_fields(api, model):
    """The usage object of each API, or None when the model says no-usage."""
    tin, tout, cached, reported = usage_of(model)
    if not reported:
        return None
    if api == "anthropic":
        u = {"input_tokens": tin - cached, "output_tokens": tout}
        if cached:
            u["cache_read_input_tokens"] = cached
        return u
    if api == "ollama":
        return {"prompt_eval_count": tin, "eval_count": tout}
    u = {"prompt_tokens": tin, "completion_tokens": tout}
    if cached:
        u["prompt_tokens_details"] = {"cached_tokens": cached}
    return u


def ok_body(api, body, text):
    u = usage_fields(api, body.get("model", ""))
    if api == "anthropic":
        out = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}],
               "stop_reason": "end_turn"}
        if u is not None:
            out["usage"] = u
        return out
    if api == "ollama":
        out = {"model": body.get("model"), "message": {"role": "assistant", "content": text}, "done": True}
        out.update(u or {})
        return out
    out = {"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    if u is not None:
        out["usage"] = u
    return out


def error_body(api, status, message):
    if api == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": message}}
    if api == "ollama":
        return {"error": message}
    return {"error": {"message": message, "type": "invalid_request_error", "code": status}}


def stream_events(api, text, cut, model=""):
    pieces = [text[i:i + 5] for i in range(0, len(text), 5)]
    if cut:
        pieces = pieces[: max(1, len(pieces) // 2)]
    u = usage_fields(api, model)
    out = []
    if api == "anthropic":
        # As Anthropic does: the input side in message_start (output_tokens 1 there),
        # the final output count in message_delta.
        start_usage = dict(u, output_tokens=1) if u is not None else None
        out.append(("message_start", {"type": "message_start", "message": {"usage": start_usage} if u is not None else {}}))
        for p in pieces:
            out.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": p}}))
        if not cut:
            delta = {"type": "message_delta"}
            if u is not None:
                delta["usage"] = {"output_tokens": u["output_tokens"]}
            out.append(("message_delta", delta))
            out.append(("message_stop", {"type": "message_stop"}))
        return [("event: %s\ndata: %s\n\n" % (e, json.dumps(d))).encode() for e, d in out]
    if api == "ollama":
        lines = [json.dumps({"message": {"role": "assistant", "content": p}, "done": False}) + "\n" for p in pieces]
        if not cut:
            last = {"message": {"role": "assistant", "content": ""}, "done": True}
            last.update(u or {})
            lines.append(json.dumps(last) + "\n")
        return [l.encode() for l in lines]
    with_choice = "usage-with-choice" in directives(str(model))
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}], "usage": None} for p in pieces]
    if not cut:
        if with_choice and chunks and u is not None:
            chunks[-1]["choices"][0]["finish_reason"] = "stop"
            chunks[-1]["usage"] = u
        elif u is not None:
            chunks.append({"choices": [], "usage": u})
    chunks = ["data: %s\n\n" % json.dumps(c) for c in chunks]
    if not cut:
        chunks.append("data: [DONE]\n\n")
    return [c.encode() for c in chunks]


async def respond(writer, status, payload, headers=(), ctype="application/json"):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    head = ["HTTP/1.1 %d X" % status, "Content-Type: %s" % ctype, "Content-Length: %d" % len(data)]
    head += list(headers)
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    await writer.drain()


def echo_text(headers, body):
    """What a careless server puts in an error: the request, as it understood it."""
    parts = []
    for k, v in headers.items():
        v = v.strip()
        if k == "authorization" and v.startswith("Basic "):
            v = "Basic " + base64.b64decode(v[6:]).decode(errors="replace")
        parts.append("%s: %s" % (k, v))
    key = headers.get("authorization", "").replace("Bearer ", "").strip() or headers.get("x-api-key", "").strip()
    return "bad request; key=%s; headers=%s; body=%s" % (key, "; ".join(parts), json.dumps(body))


async def handle_chat(api, body, headers, writer, served=0):
    model = str(body.get("model", "ok"))
    stream = bool(body.get("stream"))
    status = 200
    try:
        for d in directives(model):
            if d.startswith("slow-first-"):
                await asyncio.sleep(int(d.split("-")[2]) / 1000)
            elif d.startswith("delay-"):
                await asyncio.sleep(int(d.split("-")[1]) / 1000)
            elif d.startswith("fail-"):
                _, st, n = d.split("-")
                if take(model, d, int(n)):
                    status = int(st)
                    await respond(writer, status, error_body(api, status, "scripted failure %s" % st))
                    return status
            elif d.startswith("retry-after-"):
                _, _, sec, n = d.split("-")
                if take(model, d, int(n)):
                    status = 429
                    await respond(writer, 429, error_body(api, 429, "rate limited, slow down"),
                                  ["Retry-After: %s" % sec])
                    return status
            elif d.startswith("close-reused-"):
                if served > 0 and take(model, d, int(d.split("-")[2])):
                    status = 0
                    writer.close()
                    return 0
            elif d.startswith("reset-"):
                if take(model, d, int(d.split("-")[1])):
                    status = 0
                    writer.transport.abort()
                    return 0
            elif d.startswith("flaky-"):
                if RNG.random() * 100 < float(d.split("-")[1]):
                    kind = RNG.choice(["503", "429", "reset"])
                    if kind == "reset":
                        status = 0
                        writer.transport.abort()
                        return 0
                    status = int(kind)
                    await respond(writer, status, error_body(api, status, "flaky " + kind),
                                  ["Retry-After: 0"] if status == 429 else [])
                    return status
            elif d == "malformed":
                await respond(writer, 200, b'{"choices": [ this is not json')
                return 200
            elif d == "trailing-junk":
                await respond(writer, 200, json.dumps(ok_body(api, body, "fine")).encode() + b" <html>oops</html>")
                return 200
            elif d == "huge":
                await respond(writer, 200, ok_body(api, body, "x" * (40 << 20)))
                return 200
            elif d.startswith("echo-json-"):
                status = int(d.split("-")[2])
                await respond(writer, status, error_body(api, status, echo_text(headers, body)))
                return status
            elif d.startswith("echo-text-"):
                status = int(d.split("-")[2])
                key = headers.get("authorization", "").replace("Bearer ", "").strip() or "nokey"
                text = ("x" * (300 - len("oops ") - len(key) // 2)) + key + " " + echo_text(headers, body)
                await respond(writer, status, ("oops " + text).encode(), ctype="text/plain")
                return status
            elif d == "hang":
                await asyncio.sleep(3600)
                return 0
            elif d == "ignore-stream":
                await respond(writer, 200, ok_body(api, body, answer_text(api, body)))
                return 200
            elif d == "gzip":  # some servers compress whatever the client asked
                data = gzip.compress(json.dumps(ok_body(api, body, answer_text(api, body))).encode())
                await respond(writer, 200, data, ["Content-Encoding: gzip"])
                return 200
            elif d == "echo-key":
                key = headers.get("authorization", "").replace("Bearer ", "") or headers.get("x-api-key", "")
                await respond(writer, 401, error_body(api, 401, "Incorrect API key provided: %s" % key))
                return 401
        text = answer_text(api, body)
        if not stream:
            await respond(writer, 200, ok_body(api, body, text))
            return 200
        cut = any(d.startswith("cut-") and take(model, d, int(d.split("-")[1])) for d in directives(model))
        ctype = "application/x-ndjson" if api == "ollama" else "text/event-stream"
        for d in directives(model):
            if d.startswith("sse-ctype-"):
                ctype = {"plain": "text/plain", "none": None}[d.split("-")[2]]
        events = stream_events(api, text, cut or "stall" in directives(model), model)
        ds = directives(model)
        if "echo-stream" in ds:
            events = [("data: %s\n\n" % json.dumps(error_body(api, 400, echo_text(headers, body)))).encode()]
        elif "stream-error" in ds:
            events = events[:2] + [("data: %s\n\n" % json.dumps(error_body(api, 400, "model not found: nope"))).encode()]
        elif "split-emoji" in ds or "lone-surrogate" in ds:
            # Hand-written JSON: \ud83c\udf89 is U+1F389 split between two events.
            second = "\\udf89 party" if "split-emoji" in ds else " party"
            events = [b'data: {"choices":[{"index":0,"delta":{"content":"let us \\ud83c"}}]}\n\n',
                      ('data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % second).encode(),
                      b'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7}}\n\n',
                      b"data: [DONE]\n\n"]
        head = "HTTP/1.1 200 OK\r\n" + ("Content-Type: %s\r\n" % ctype if ctype else "") + "Transfer-Encoding: chunked\r\n\r\n"
        writer.write(head.encode())
        for ev in events:
            writer.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            await writer.drain()
            await asyncio.sleep(0.002)
        if "stall" in ds:
            await asyncio.sleep(3600)
        if cut:
            # Let the client read what was sent: an abort drops unsent bytes, and a reset
            # may drop unread ones, which would make the cut point vary with load.
            while writer.transport.get_write_buffer_size() > 0:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.05)
            writer.transport.abort()
            return 200
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return 200
    finally:
        LOG.append({"t": time.time(), "path": api, "model": model, "status": status, "stream": stream})


async def handle(reader, writer):
    served = 0  # requests this connection answered before
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, path, _ = line.decode().split(" ", 2)
            headers = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, v = h.decode().split(":", 1)
                headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method == "GET" and path == "/__log":
                data = "".join(json.dumps(e) + "\n" for e in LOG).encode()
                await respond(writer, 200, data)
                continue
            api = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic", "/api/chat": "ollama"}.get(path)
            if api is None:
                await respond(writer, 404, {"error": {"message": "no route " + path}})
                continue
            status = await handle_chat(api, json.loads(body or b"{}"), headers, writer, served)
            served += 1
            if status == 0 or writer.transport.is_closing():
                return
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096, limit=1 << 22)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.call_later(args.lifetime, lambda: stop.done() or stop.set_result(None))

    def stdin_closed():
        if not stop.done():
            stop.set_result(None)
    loop.add_reader(sys.stdin.fileno(), lambda: (os.read(sys.stdin.fileno(), 4096) or stdin_closed()))
    await stop
    sys.stdout.flush()
    os._exit(0)  # pending handlers are test leftovers: drop them without tracebacks


if __name__ == "__main__":
    asyncio.run(main())
