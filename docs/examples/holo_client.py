#!/usr/bin/python3
"""A small Holobionte client, written from docs/protocol.md ("Generation").

Streams a generation's text to stdout:

    holo_client.py --model demo --max-tokens 32 "Once upon a time"

or, as a library:

    from holo_client import HoloClient
    client = HoloClient("tcp://127.0.0.1:7711")
    for event in client.generate("demo", prompt="Once upon a time", options={"max_tokens": 32}):
        if event["kind"] == "token":
            print(event["text"], end="", flush=True)

Needs Debian's python3-zmq and python3-msgpack.
"""

import argparse
import json
import sys
import uuid

import msgpack
import zmq

PROTOCOL_VERSION = 1
DEFAULT_ENDPOINT = "tcp://127.0.0.1:7711"


class HoloError(Exception):
    """A generation that did not end with `done`: the node's error event (code is one of
    invalid_argument, not_found, out_of_range, resource_exhausted, unavailable), or a failure
    seen by the client (deadline_exceeded, data_loss)."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class HoloClient:
    """One DEALER connected to a node's client endpoint. Not thread-safe."""

    def __init__(self, endpoint=DEFAULT_ENDPOINT, idle_timeout_s=30.0):
        self.endpoint = endpoint
        self.idle_timeout_s = idle_timeout_s
        self._context = zmq.Context.instance()
        self._socket = None
        self.reconnect()

    def reconnect(self):
        """Closes the connection and opens a new one (the node sees a new client)."""
        if self._socket is not None:
            self._socket.close(linger=0)
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.connect(self.endpoint)

    def close(self):
        self._socket.close(linger=0)

    def generate(self, model, prompt=None, messages=None, options=None, stream=True, session=None, id=None):
        """Starts a generation and yields its events (dicts): `token`s in index order, then `done`.
        Give exactly one of `prompt` (a string, used as is) and `messages` ([{role, content}]).
        Raises HoloError on an error event, a gap in the indexes, or `idle_timeout_s` of silence."""
        request = {"v": PROTOCOL_VERSION, "kind": "generate", "id": id or uuid.uuid4().hex,
                   "model": model, "stream": stream, "options": options or {}}
        if (prompt is None) == (messages is None):
            raise ValueError("give exactly one of prompt and messages")
        if prompt is not None:
            request["prompt"] = prompt
        else:
            request["messages"] = messages
        if session:
            request["session"] = session
        self._send(request)
        return self.follow(request["id"], 0)

    def resume(self, id, from_index):
        """Re-attaches this connection to generation `id` and yields its events from token
        `from_index` on (call reconnect() first when the old connection is gone)."""
        self._send({"v": PROTOCOL_VERSION, "kind": "resume", "id": id, "from_index": from_index})
        return self.follow(id, from_index)

    def cancel(self, id):
        """Asks the node to stop generation `id`; its `done` (reason cancelled) follows."""
        self._send({"v": PROTOCOL_VERSION, "kind": "cancel", "id": id})

    def models(self):
        """The models the cluster serves: [{name, aliases, fallback, replicas: [{node, state}]}]."""
        rid = uuid.uuid4().hex
        self._send({"v": PROTOCOL_VERSION, "kind": "models", "id": rid})
        while True:
            reply = self._receive()
            if reply.get("id") != rid:
                continue
            if reply.get("kind") == "error":
                raise HoloError(reply.get("code", "unknown"), reply.get("message", ""))
            return reply["models"]

    def _send(self, message):
        self._socket.send(msgpack.packb(message, use_bin_type=True))

    def _receive(self):
        if not self._socket.poll(int(self.idle_timeout_s * 1000)):
            raise HoloError("deadline_exceeded", f"nothing from {self.endpoint} for {self.idle_timeout_s:g} s")
        message = msgpack.unpackb(self._socket.recv(), raw=False)
        if not isinstance(message, dict):
            raise HoloError("invalid_argument", "the node sent a frame that is not a map")
        return message

    def follow(self, id, next_index):
        """Yields the events of generation `id`, already asked for on this connection, from token
        `next_index` on; skips other ids' events. Ends after `done`."""
        while True:
            event = self._receive()
            if event.get("id") != id and not (event.get("kind") == "error" and event.get("id") == ""):
                continue  # another generation's event, or a late reply
            kind = event.get("kind")
            if kind == "token":
                if event["index"] != next_index:
                    raise HoloError("data_loss", f"expected token index {next_index}, got {event['index']}")
                next_index += len(event["tokens"])
                yield event
            elif kind == "done":
                yield event
                return
            elif kind == "error":
                raise HoloError(event.get("code", "unknown"), event.get("message", ""))


def print_event(event, as_json):
    if as_json:
        print(json.dumps(event, ensure_ascii=False), flush=True)
    elif event["kind"] == "token":
        print(event["text"], end="", flush=True)
    else:  # done
        timings = event.get("timings", {})
        print(event.get("text", ""), flush=True)
        print(f"[{event.get('generated_tokens')} tokens, ttft {timings.get('ttft_ms', -1):.0f} ms, "
              f"node {event.get('node')}, attempts {event.get('attempts')}, {event.get('reason')}]", file=sys.stderr)


def run(args):
    client = HoloClient(args.endpoint)
    options = {k: v for k, v in (("max_tokens", args.max_tokens), ("seed", args.seed),
                                 ("temperature", args.temperature)) if v is not None}
    gid = args.id or uuid.uuid4().hex
    events = client.generate(args.model, prompt=args.prompt, options=options, id=gid)
    next_index, resumed, cancelled = 0, False, False
    while True:
        try:
            for event in events:
                if event["kind"] == "done":
                    print_event(event, args.json)
                    return 130 if cancelled else 0
                next_index = event["index"] + len(event["tokens"])
                print_event(event, args.json)
                if args.resume_after is not None and not resumed and next_index >= args.resume_after:
                    # Drop the connection mid-stream, then pick the generation up where we left it.
                    resumed = True
                    events.close()
                    client.reconnect()
                    events = client.resume(gid, next_index)
                    break
        except KeyboardInterrupt:
            if cancelled:
                return 130  # a second Ctrl-C: do not wait for the done event
            cancelled = True
            print("\nholo_client: cancelling (Ctrl-C again to quit now)", file=sys.stderr)
            client.cancel(gid)
            events = client.follow(gid, next_index)  # the interrupted generator is finished: read on
        except HoloError as e:
            return fail(e, args)


def fail(error, args):
    if args.json:
        print(json.dumps({"kind": "error", "code": error.code, "message": error.message}), flush=True)
    print(f"\nholo_client: {error}", file=sys.stderr)
    return 1


def main():
    parser = argparse.ArgumentParser(
        description="Stream a generation from a Holobionte node (docs/protocol.md).",
        epilog="example: holo_client.py --model demo --max-tokens 32 --resume-after 8 \"Once upon a time\"")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help=f"node client endpoint (default {DEFAULT_ENDPOINT})")
    parser.add_argument("--model", required=True, help="model name or alias")
    parser.add_argument("--max-tokens", type=int, help="most tokens to generate")
    parser.add_argument("--seed", type=int, help="sampling seed")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0: greedy)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")
    parser.add_argument("--id", help="generation id (default: random); with the same seed, the same id gives the same text")
    parser.add_argument("--resume-after", type=int, metavar="K",
                        help="after K tokens, drop the connection and resume on a new one")
    parser.add_argument("prompt", help="the prompt, sent as is")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
