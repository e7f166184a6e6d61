"""emuclient - a small client for tgemu's control API (and its Bot API),
for opsbot's Python integration tests. Standard library only.

    from emuclient import EmuClient
    emu = EmuClient(port)                 # or EmuClient.from_port_file(path)
    emu.reset()
    emu.config(chat_burst=1, chat_rate=0.5)
    emu.fault("5xx", count=2, methods=["sendMessage"])
    uid = emu.update("/status", from_id=111)["update_id"]
    msgs = emu.wait_for(lambda: emu.messages(chat_id=-1001) or None, timeout=10)
"""

import inspect
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request


class EmuError(Exception):
    pass


class EmuClient:
    def __init__(self, port_or_url, token="123456:TESTTOKEN", timeout=10.0):
        if isinstance(port_or_url, int) or str(port_or_url).isdigit():
            self.base_url = "http://127.0.0.1:%d" % int(port_or_url)
        else:
            self.base_url = str(port_or_url).rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_port_file(cls, path, token="123456:TESTTOKEN", wait=10.0,
                       timeout=10.0):
        """Waits up to `wait` seconds for tgemu to write its port file."""
        deadline = time.monotonic() + wait
        while True:
            try:
                with open(path) as f:
                    txt = f.read().strip()
                if txt.isdigit():
                    return cls(int(txt), token=token, timeout=timeout)
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise EmuError("no port file %s after %.1f s" % (path, wait))
            time.sleep(0.05)

    @property
    def api_url(self):
        """What opsbot's telegram.api_url should be set to."""
        return self.base_url

    # ------------------------------------------------------------ transport
    def _call(self, verb, path, body=None, query=None):
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: v for k, v in query.items() if v is not None})
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=verb,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            raise EmuError("%s %s -> %d %s" % (verb, path, e.code,
                                               raw.decode("utf-8", "replace")))
        return json.loads(raw.decode("utf-8")) if raw else None

    def _get(self, path, **query):
        return self._call("GET", "/_emu/" + path, query=query)

    def _post(self, path, body=None):
        return self._call("POST", "/_emu/" + path,
                          body if body is not None else {})

    # ------------------------------------------------------------ control
    def health(self):
        return self._get("health")

    def messages(self, chat_id=None):
        return self._get("messages", chat_id=chat_id)

    def texts(self, chat_id=None):
        return [m["text"] for m in self.messages(chat_id)]

    def requests(self, method=None, since=None):
        return self._get("requests", method=method, since=since)

    def stats(self):
        return self._get("stats")

    def state(self):
        return self._get("state")

    def get_config(self):
        return self._get("config")

    def config(self, **kw):
        return self._post("config", kw)

    def chat(self, chat_id, behaviour="normal", migrate_to=None,
             clear_block=False):
        body = {"chat_id": chat_id, "behaviour": behaviour}
        if migrate_to is not None:
            body["migrate_to"] = migrate_to
        if clear_block:
            body["clear_block"] = True
        return self._post("chat", body)

    def unblock(self, chat_id=None):
        return self._post("unblock", {} if chat_id is None
                          else {"chat_id": chat_id})

    def fault(self, kind, count=None, seconds=None, methods=None, **extra):
        """kind: 5xx html502 timeout reset garbage empty down 429
        parse_entities lost_answer (the call is done, its answer lost).
        extra: hold (timeout), status (5xx), retry_after (429)."""
        body = {"kind": kind}
        if count is not None:
            body["count"] = count
        if seconds is not None:
            body["seconds"] = seconds
        if methods is not None:
            body["methods"] = list(methods)
        body.update(extra)
        return self._post("fault", body)

    def faults(self):
        return self._get("fault")

    def clear_faults(self):
        return self._call("DELETE", "/_emu/fault")

    def update(self, text, from_id=111, chat_id=None, chat_type=None,
               username=None, **extra):
        body = {"text": text, "from_id": from_id}
        if chat_id is not None:
            body["chat_id"] = chat_id
        if chat_type is not None:
            body["chat_type"] = chat_type
        if username is not None:
            body["username"] = username
        body.update(extra)
        return self._post("update", body)

    def raw_update(self, update):
        return self._post("update", {"raw": update})

    def callback(self, data, from_id=111, chat_id=None, message_id=None,
                 username=None):
        body = {"data": data, "from_id": from_id}
        if chat_id is not None:
            body["chat_id"] = chat_id
        if message_id is not None:
            body["message_id"] = message_id
        if username is not None:
            body["username"] = username
        return self._post("callback", body)

    def callbacks(self):
        return self._get("callbacks")

    def commands(self):
        return self._get("commands")

    def updates_state(self):
        return self._get("updates_state")

    def reset(self):
        return self._post("reset")

    # ------------------------------------------------------------ Bot API
    def bot(self, method, token=None, **params):
        """Calls a Bot API method as a bot would; returns (status, reply)."""
        url = "%s/bot%s/%s" % (self.base_url, token or self.token, method)
        data = json.dumps(params).encode("utf-8")
        req = urllib.request.Request(
            url, data=data, method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout + 65) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw

    # ------------------------------------------------------------ waiting
    def wait_for(self, predicate, timeout=10.0, interval=0.05, what=None):
        """Calls predicate() (or predicate(self)) until it returns something
        truthy, and returns that; raises TimeoutError after `timeout` s."""
        try:
            nargs = len(inspect.signature(predicate).parameters)
        except (TypeError, ValueError):
            nargs = 0
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = predicate(self) if nargs >= 1 else predicate()
            if last:
                return last
            if time.monotonic() >= deadline:
                raise TimeoutError("timed out after %.1f s waiting for %s "
                                   "(last value %r)"
                                   % (timeout, what or "condition", last))
            time.sleep(interval)

    def wait_messages(self, n, chat_id=None, timeout=10.0):
        """Waits until at least n messages (in chat_id) and returns them."""
        return self.wait_for(
            lambda: (lambda m: m if len(m) >= n else None)(
                self.messages(chat_id)),
            timeout=timeout, what="%d messages" % n)


def from_env(var="TGEMU_PORT_FILE", **kw):
    """EmuClient from an env var naming the port file (convenience)."""
    return EmuClient.from_port_file(os.environ[var], **kw)
