"""Self-test of tgemu (the Telegram Bot API emulator) and emuclient.

    python3 -m unittest tests/emulator/test_tgemu.py      (from the repo root)

Runs the emulator in-process on a random loopback port (plus one test that
runs it as a subprocess); fast, no long sleeps.
"""

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tgemu  # noqa: E402
from emuclient import EmuClient  # noqa: E402

TOKEN = "123456:TESTTOKEN"


class EmuTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = io.StringIO()
        cls.srv = tgemu.EmulatorServer(TOKEN, 0, print_out=cls.out).start()
        cls.port = cls.srv.port
        cls.emu = EmuClient(cls.port, token=TOKEN)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.emu.reset()
        self.emu.config(chat_burst=1000, chat_rate=1000.0,
                        group_per_minute=0, global_per_second=0)

    # -- helpers
    def api(self, method, params=None, token=TOKEN, form=False, raw=None,
            ctype=None, timeout=5, verb="POST", conn=None):
        """Returns (status, parsed JSON or raw bytes, headers)."""
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=timeout)
        path = "/bot%s/%s" % (token, method)
        headers = {}
        if raw is not None:
            body = raw
            headers["Content-Type"] = ctype or "application/json"
        elif verb == "GET":
            body = None
            if params:
                path += "?" + urllib.parse.urlencode(params)
        elif form:
            body = urllib.parse.urlencode(params or {}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(params or {}).encode()
            headers["Content-Type"] = "application/json"
        c.request(verb, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data
        return r.status, parsed, r

    def send(self, chat_id, text, **kw):
        p = {"chat_id": chat_id, "text": text}
        p.update(kw)
        return self.api("sendMessage", p)[:2]

    def html(self, text):
        return self.send(111, text, parse_mode="HTML")


class TestBasics(EmuTestCase):
    def test_get_me_and_token(self):
        st, r, _ = self.api("getMe", verb="GET")
        self.assertEqual(st, 200)
        self.assertTrue(r["ok"])
        self.assertEqual(r["result"]["username"], "opsbot_test_bot")
        self.assertTrue(r["result"]["is_bot"])
        st, r, _ = self.api("getMe", token="123456:WRONG")
        self.assertEqual((st, r), (401, {"ok": False, "error_code": 401,
                                         "description": "Unauthorized"}))
        st, r, _ = self.api("noSuchMethod")
        self.assertEqual((st, r["description"]), (404, "Not Found"))

    def test_send_recorded_and_ids_increase(self):
        st, r = self.send(-1001, "<b>CRIT</b> db1 &lt;lag&gt; &#x1F525;",
                          parse_mode="HTML", disable_notification=True,
                          link_preview_options={"is_disabled": True})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["result"]["text"], "CRIT db1 <lag> \U0001F525")
        self.assertEqual(r["result"]["chat"], {"id": -1001, "type": "group",
                                               "title": "Group -1001"})
        self.assertEqual(r["result"]["entities"],
                         [{"type": "bold", "offset": 0, "length": 4}])
        st2, r2 = self.send("-1001", "second")  # chat_id as a string
        self.assertEqual(st2, 200, r2)
        self.assertGreater(r2["result"]["message_id"],
                           r["result"]["message_id"])
        msgs = self.emu.messages(chat_id=-1001)
        self.assertEqual([m["text"] for m in msgs],
                         ["CRIT db1 <lag> \U0001F525", "second"])
        m = msgs[0]
        self.assertTrue(m["silent"])
        self.assertTrue(m["link_preview_disabled"])
        self.assertEqual(m["parse_mode"], "HTML")
        self.assertEqual(m["html"], "<b>CRIT</b> db1 &lt;lag&gt; &#x1F525;")
        self.assertFalse(msgs[1]["silent"])
        self.assertIn("── chat -1001 · message %d · 🔕 silent\nCRIT db1 <lag>"
                      % m["message_id"], self.out.getvalue())

    def test_encodings_form_query_json(self):
        st, r, _ = self.api("sendMessage", {"chat_id": 5, "text": "form é"},
                            form=True)
        self.assertEqual((st, r["result"]["text"]), (200, "form é"))
        st, r, _ = self.api("sendMessage", {"chat_id": 5, "text": "query"},
                            verb="GET")
        self.assertEqual((st, r["result"]["text"]), (200, "query"))
        # invalid UTF-8 in the body
        st, r, _ = self.api("sendMessage", raw=b'{"chat_id":5,"text":"\xff"}')
        self.assertEqual((st, r["description"]), (400, tgemu.E_UTF8))
        st, r, _ = self.api("sendMessage", raw=b"chat_id=5&text=%C3%28",
                            ctype="application/x-www-form-urlencoded")
        self.assertEqual((st, r["description"]), (400, tgemu.E_UTF8))
        st, r, _ = self.api("sendMessage",
                            raw=b'{"chat_id":5,"text":"\\udc80"}')
        self.assertEqual((st, r["description"]), (400, tgemu.E_UTF8))
        # malformed JSON
        st, r, _ = self.api("sendMessage", raw=b'{"chat_id":5,')
        self.assertEqual(st, 400)
        self.assertFalse(r["ok"])
        # empty / missing text, missing chat
        self.assertEqual(self.send(5, "")[1]["description"], tgemu.E_EMPTY)
        st, r, _ = self.api("sendMessage", {"chat_id": 5})
        self.assertEqual(r["description"], tgemu.E_EMPTY)
        self.assertEqual(self.send(5, " \n ")[1]["description"], tgemu.E_EMPTY)
        st, r, _ = self.api("sendMessage", {"text": "x"})
        self.assertEqual((st, r["description"]),
                         (400, "Bad Request: chat_id is empty"))
        self.assertEqual(len(self.emu.messages()), 2)

    def test_keepalive_many_requests_one_connection(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        for i in range(20):
            st, r, _ = self.api("sendMessage", {"chat_id": 7, "text": "k%d" % i},
                                conn=c)
            self.assertEqual(st, 200)
        st, r, _ = self.api("sendMessage", {"chat_id": 7, "text": ""}, conn=c)
        self.assertEqual(st, 400)
        st, r, _ = self.api("getMe", conn=c)
        self.assertEqual(st, 200)
        # no Nagle/delayed-ACK stall (~40 ms per request) on keep-alive
        t0 = time.monotonic()
        for i in range(200):
            self.assertEqual(self.api("getMe", conn=c)[0], 200)
        self.assertLess(time.monotonic() - t0, 3.0)
        c.close()
        self.assertEqual(len(self.emu.messages(7)), 20)

    def test_bad_http_input_does_not_crash(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"POST /bot%s/sendMessage HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: abc\r\n\r\n" % TOKEN.encode())
        data = s.recv(4096)
        s.close()
        self.assertIn(b" 400 ", data.split(b"\r\n")[0])
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"garbage\r\n\r\n")
        s.recv(4096)
        s.close()
        st, r, _ = self.api("sendMessage", raw=b"[1,2]")
        self.assertEqual(st, 400)
        st, r, _ = self.api("sendMessage", {"chat_id": {"x": 1}, "text": "a"})
        self.assertEqual(st, 400)
        st, r, _ = self.api("sendMessage", {"chat_id": 1, "text": "a",
                                            "reply_markup": "{not json"})
        self.assertEqual(st, 400)
        self.assertEqual(self.emu.stats()["emulator_errors"], 0)
        self.assertEqual(self.api("getMe")[0], 200)


class TestHtml(EmuTestCase):
    GOOD = [
        ("<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins>"
         "<s>s</s><strike>k</strike><del>d</del>", "bsieunskd"),
        ('<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>', "xy"),
        ('<a href="https://e.x/?a=1&amp;b=&quot;2&quot;">link</a>', "link"),
        ("<a href='https://e.x/'>single</a>", "single"),
        ("<code>a &lt; b</code>", "a < b"),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1"),
        ("<pre>plain</pre>", "plain"),
        ("<blockquote>q</blockquote>", "q"),
        ("<blockquote expandable>q</blockquote>", "q"),
        ('<tg-emoji emoji-id="5368324170671202286">\U0001F44D</tg-emoji>',
         "\U0001F44D"),
        ("<b>bold <i>both</i></b> &amp; &quot;q&quot; &#65;&#x42; a > b",
         'bold both & "q" AB a > b'),
        ("<B>upper</B>", "upper"),
        ("<b><i><u>x</u></i></b><blockquote><b>in</b></blockquote>", "xin"),
    ]
    BAD = [
        ("a <br> b", 'unsupported start tag "br"', 2),
        ("<p>x</p>", 'unsupported start tag "p"', 0),
        ("<div>x</div>", 'unsupported start tag "div"', 0),
        ("x & y", 'bare "&"', 2),
        ("x &nbsp; y", 'unsupported HTML entity "&nbsp;"', 2),
        ("x &apos; y", 'unsupported HTML entity "&apos;"', 2),
        ("1 < 2", 'bare "<"', 2),
        ("é<b>x", 'can\'t find end tag corresponding to start tag "b"', 2),
        ("<b>x<i>y</b></i>", 'unmatched end tag "b", expected "</i>"', 8),
        ("x</b>", 'unexpected end tag "b"', 1),
        ("<b", 'unclosed start tag "b"', 0),
        ("<a href=x>l</a>", 'must be quoted', 8),
        ('<a href="x>l</a>', 'unclosed value', 8),
        ("<a>l</a>", 'non-empty href', 0),
        ('<b class="x">l</b>', 'unsupported attribute "class" in tag "b"', 0),
        ("<span>l</span>", 'class "tg-spoiler"', 0),
        ('<span class="x">l</span>', 'class "tg-spoiler"', 0),
        ("<code><b>x</b></code>", 'tag "b" is not allowed inside "code"', 6),
        ("<pre><b>x</b></pre>", 'tag "b" is not allowed inside "pre"', 5),
        ("<pre><code><i>x</i></code></pre>", 'not allowed inside "code"', 11),
        ('<code class="python">x</code>', 'unsupported class', 0),
        ("<blockquote>a<blockquote>b</blockquote></blockquote>",
         "nested blockquote", 13),
        ("<blockquote><b><blockquote>b</blockquote></b></blockquote>",
         "nested blockquote", 15),
        ("<tg-emoji>x</tg-emoji>", "numeric emoji-id", 0),
        ("&#0;", "invalid numeric character reference", 0),
        ("&#xD800;", "invalid numeric character reference", 0),
        ("<b/>", "self-closing", 0),
        ('<a href="&foo;">x</a>', 'unsupported HTML entity "&foo;"', 9),
        ('<a href="a<b">x</a>', 'bare "<" in attribute', 10),
    ]

    def test_good_html(self):
        for src, visible in self.GOOD:
            with self.subTest(src=src):
                st, r = self.html(src)
                self.assertEqual(st, 200, r)
                self.assertEqual(r["result"]["text"], visible)

    def test_bad_html(self):
        for src, reason, offset in self.BAD:
            with self.subTest(src=src):
                st, r = self.html(src)
                self.assertEqual(st, 400, r)
                d = r["description"]
                self.assertTrue(d.startswith("Bad Request: can't parse "
                                             "entities: "), d)
                self.assertIn(reason, d)
                self.assertTrue(d.endswith(" at byte offset %d" % offset), d)
        self.assertEqual(self.emu.messages(), [])
        self.assertEqual(self.emu.stats()["html_errors"], len(self.BAD))

    def test_plain_text_is_not_parsed(self):
        st, r = self.send(111, "<br> & <p>")
        self.assertEqual((st, r["result"]["text"]), (200, "<br> & <p>"))
        st, r = self.send(111, "x", parse_mode="MarkdownV1")
        self.assertEqual(st, 400)

    def test_entities_and_language(self):
        st, r = self.html('\U0001F525 <a href="https://x/">l</a> '
                          '<pre><code class="language-c">int</code></pre>'
                          '<blockquote expandable>q</blockquote>')
        self.assertEqual(st, 200, r)
        self.assertEqual(r["result"]["entities"], [
            {"type": "text_link", "offset": 3, "length": 1,
             "url": "https://x/"},
            {"type": "pre", "offset": 5, "length": 3, "language": "c"},
            {"type": "expandable_blockquote", "offset": 8, "length": 1}])

    def test_utf16_length_limit(self):
        emoji = "\U0001F600"  # 2 UTF-16 units
        ok = emoji * 2048
        self.assertEqual(self.send(111, ok)[0], 200)
        st, r = self.send(111, ok + "x")
        self.assertEqual((st, r["description"]),
                         (400, "Bad Request: message is too long"))
        st, r = self.send(111, "a" * 4095 + emoji)
        self.assertEqual((st, r["description"]),
                         (400, "Bad Request: message is too long"))
        self.assertEqual(self.send(111, "a" * 4094 + emoji)[0], 200)
        # counted after entity parsing: markup does not count
        st, r = self.html("<b>" + "&amp;" * 4096 + "</b>")
        self.assertEqual(st, 200, r)
        st, r = self.html("<b>" + "&amp;" * 4097 + "</b>")
        self.assertEqual(r["description"], "Bad Request: message is too long")
        st, r = self.html("<b></b>")
        self.assertEqual(r["description"], tgemu.E_EMPTY)
        self.assertEqual(len(self.emu.messages()), 3)


class TestRateLimits(EmuTestCase):
    def test_chat_burst_429_and_early(self):
        self.emu.config(chat_burst=3, chat_rate=1.0)
        for i in range(3):
            self.assertEqual(self.send(42, "m%d" % i)[0], 200)
        st, r = self.send(42, "m3")
        self.assertEqual(st, 429)
        self.assertEqual(r, {"ok": False, "error_code": 429,
                             "description": "Too Many Requests: retry after 1",
                             "parameters": {"retry_after": 1}})
        # another chat is unaffected
        self.assertEqual(self.send(43, "other")[0], 200)
        # ignoring retry_after: counted as early, and refused again
        st, r = self.send(42, "again")
        self.assertEqual(st, 429)
        s = self.emu.stats()
        self.assertEqual(s["rate_limited"], 2)
        self.assertEqual(s["early"], 1)
        self.assertEqual(s["early_detail"][0]["chat_id"], 42)
        self.assertGreater(s["early_detail"][0]["early_ms"], 0)
        self.assertEqual(len(self.emu.messages(42)), 3)
        # waiting retry_after works and is not early
        time.sleep(r["parameters"]["retry_after"] + 0.05)
        self.assertEqual(self.send(42, "later")[0], 200)
        self.assertEqual(self.emu.stats()["early"], 1)
        reqs = self.emu.requests(method="sendMessage")
        self.assertEqual([q["status"] for q in reqs],
                         [200, 200, 200, 429, 200, 429, 200])
        self.assertEqual(reqs[3]["retry_after"], 1)

    def test_group_window(self):
        self.emu.config(group_per_minute=5)
        for i in range(5):
            self.assertEqual(self.send(-100777, "g%d" % i)[0], 200)
        st, r = self.send(-100777, "g5")
        self.assertEqual(st, 429)
        self.assertIn(r["parameters"]["retry_after"], (59, 60))
        # private chats have no group window
        for i in range(6):
            self.assertEqual(self.send(777, "p%d" % i)[0], 200)
        self.assertEqual(self.emu.stats()["rate_limited_by_scope"]["group"], 1)

    def test_global_window(self):
        self.emu.config(global_per_second=4)
        for i in range(4):
            self.assertEqual(self.send(1000 + i, "x")[0], 200)
        st, r = self.send(2000, "x")
        self.assertEqual((st, r["parameters"]["retry_after"]), (429, 1))

    def test_edit_counts_as_send(self):
        self.emu.config(chat_burst=2, chat_rate=0.5)
        st, r = self.send(50, "v1")
        mid = r["result"]["message_id"]
        st, r, _ = self.api("editMessageText",
                            {"chat_id": 50, "message_id": mid, "text": "v2"})
        self.assertEqual(st, 200)
        st, r, _ = self.api("editMessageText",
                            {"chat_id": 50, "message_id": mid, "text": "v3"})
        self.assertEqual((st, r["parameters"]["retry_after"]), (429, 2))

    def test_429_fault_with_long_retry_after(self):
        self.emu.fault("429", retry_after=3600, methods=["sendMessage"])
        st, r = self.send(60, "x")
        self.assertEqual((st, r["parameters"]["retry_after"]), (429, 3600))
        self.emu.config(enforce_retry_after=False)
        self.assertEqual(self.send(60, "y")[0], 200)
        self.assertEqual(self.emu.stats()["early"], 1)


class TestEdits(EmuTestCase):
    def test_edit_flow(self):
        kb = {"inline_keyboard": [[{"text": "Ack", "callback_data": "ack:1"}]]}
        st, r = self.send(-1002, "<b>FIRING</b>", parse_mode="HTML",
                          reply_markup=kb)
        mid = r["result"]["message_id"]
        self.assertEqual(r["result"]["reply_markup"], kb)

        def edit(**p):
            q = {"chat_id": -1002, "message_id": mid}
            q.update(p)
            return self.api("editMessageText", q)[:2]

        st, r = edit(text="<b>FIRING</b>", parse_mode="HTML", reply_markup=kb)
        self.assertEqual((st, r["description"]), (400, tgemu.E_NOT_MODIFIED))
        # <strong> renders the same as <b>: still not modified
        st, r = edit(text="<strong>FIRING</strong>", parse_mode="HTML",
                     reply_markup=json.dumps(kb))
        self.assertEqual((st, r["description"]), (400, tgemu.E_NOT_MODIFIED))
        # dropping the keyboard is a modification
        st, r = edit(text="<b>FIRING</b>", parse_mode="HTML")
        self.assertEqual(st, 200, r)
        st, r = edit(text="<b>RESOLVED</b> after 5 min", parse_mode="HTML")
        self.assertEqual(st, 200, r)
        self.assertEqual(r["result"]["text"], "RESOLVED after 5 min")
        st, r = edit(text="<b>bad", parse_mode="HTML")
        self.assertEqual(st, 400)
        st, r = self.api("editMessageText", {"chat_id": -1002,
                                             "message_id": 9999,
                                             "text": "x"})[:2]
        self.assertEqual((st, r["description"]), (400, tgemu.E_EDIT_NOT_FOUND))
        st, r = self.api("editMessageText", {"chat_id": -1003,
                                             "message_id": mid,
                                             "text": "x"})[:2]
        self.assertEqual((st, r["description"]), (400, tgemu.E_EDIT_NOT_FOUND))
        m = self.emu.messages(-1002)[0]
        self.assertEqual(m["text"], "RESOLVED after 5 min")
        self.assertEqual(len(m["edits"]), 2)
        self.assertEqual(m["edits"][1]["html"], "<b>RESOLVED</b> after 5 min")
        self.assertEqual(self.emu.stats()["edits"], 2)
        self.assertIn("── chat -1002 · message %d edited\nRESOLVED" % mid,
                      self.out.getvalue())

    def test_reply_and_markup_validation(self):
        st, r = self.send(70, "base")
        mid = r["result"]["message_id"]
        st, r = self.send(70, "reply", reply_parameters={"message_id": mid})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["result"]["reply_to_message"]["message_id"], mid)
        st, r = self.send(70, "r2", reply_to_message_id=mid)
        self.assertEqual(self.emu.messages(70)[-1]["reply_to"], mid)
        st, r = self.send(70, "r3", reply_parameters={"message_id": 999})
        self.assertEqual(st, 400)
        st, r = self.send(70, "r4", reply_parameters={
            "message_id": 999, "allow_sending_without_reply": True})
        self.assertEqual(st, 200)
        st, r = self.send(70, "k", reply_markup={"inline_keyboard": [[
            {"text": "x", "callback_data": "a" * 65}]]})
        self.assertEqual((st, r["description"]),
                         (400, "Bad Request: BUTTON_DATA_INVALID"))


class TestUpdates(EmuTestCase):
    def test_long_poll_wakes_and_offset_confirms(self):
        result = {}

        def poll():
            t0 = time.monotonic()
            result["r"] = self.api("getUpdates", {
                "timeout": 10, "allowed_updates": ["message",
                                                   "callback_query"]},
                timeout=15)[:2]
            result["dt"] = time.monotonic() - t0

        th = threading.Thread(target=poll)
        th.start()
        self.emu.wait_for(lambda: self.emu.updates_state()["polls_waiting"],
                          timeout=5)
        up = self.emu.update("/status@opsbot_test_bot", from_id=111,
                             chat_id=-1005, chat_type="supergroup",
                             username="alice")
        th.join(10)
        st, r = result["r"]
        self.assertEqual(st, 200, r)
        self.assertLess(result["dt"], 3)
        self.assertEqual(len(r["result"]), 1)
        u = r["result"][0]
        self.assertEqual(u["update_id"], up["update_id"])
        self.assertEqual(u["message"]["text"], "/status@opsbot_test_bot")
        self.assertEqual(u["message"]["from"]["username"], "alice")
        self.assertEqual(u["message"]["chat"]["type"], "supergroup")
        self.assertEqual(u["message"]["entities"][0]["type"], "bot_command")
        self.assertEqual(self.emu.updates_state()["allowed_updates"],
                         ["message", "callback_query"])
        # not confirmed yet: delivered again
        st, r, _ = self.api("getUpdates", {"timeout": 0})
        self.assertEqual(len(r["result"]), 1)
        u2 = self.emu.update("/alerts")["update_id"]
        st, r, _ = self.api("getUpdates", {"offset": up["update_id"] + 1,
                                           "limit": 1})
        self.assertEqual([x["update_id"] for x in r["result"]], [u2])
        s = self.emu.updates_state()
        self.assertEqual(s["pending"], [u2])
        self.assertEqual(s["confirmed_offset"], up["update_id"] + 1)
        st, r, _ = self.api("getUpdates", {"offset": u2 + 1, "timeout": 0})
        self.assertEqual(r["result"], [])
        self.assertEqual(self.emu.updates_state()["pending"], [])
        # a short long-poll with nothing returns [] after its timeout
        t0 = time.monotonic()
        st, r, _ = self.api("getUpdates", {"offset": u2 + 1, "timeout": 1})
        self.assertEqual((st, r["result"]), (200, []))
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_second_poller_terminates_first(self):
        result = {}

        def poll():
            result["r"] = self.api("getUpdates", {"timeout": 10},
                                   timeout=15)[:2]

        th = threading.Thread(target=poll)
        th.start()
        self.emu.wait_for(lambda: self.emu.updates_state()["polls_waiting"],
                          timeout=5)
        st, r, _ = self.api("getUpdates", {"timeout": 0})
        self.assertEqual(st, 200)
        th.join(5)
        self.assertEqual(result["r"], (409, {
            "ok": False, "error_code": 409, "description": tgemu.E_CONFLICT}))

    def test_callback_and_answer(self):
        st, r = self.send(111, "alert", reply_markup={"inline_keyboard": [[
            {"text": "Ack", "callback_data": "ack:12"}]]})
        mid = r["result"]["message_id"]
        cb = self.emu.callback("ack:12", from_id=111, chat_id=111,
                               message_id=mid, username="alice")
        st, r, _ = self.api("getUpdates", {})
        q = r["result"][0]["callback_query"]
        self.assertEqual(q["id"], cb["callback_query_id"])
        self.assertEqual(q["data"], "ack:12")
        self.assertEqual(q["message"]["message_id"], mid)
        st, r, _ = self.api("answerCallbackQuery",
                            {"callback_query_id": q["id"], "text": "acked"})
        self.assertEqual((st, r["result"]), (200, True))
        st, r, _ = self.api("answerCallbackQuery",
                            {"callback_query_id": q["id"]})
        self.assertEqual((st, r["description"]), (400, tgemu.E_QUERY))
        st, r, _ = self.api("answerCallbackQuery",
                            {"callback_query_id": "bogus"})
        self.assertEqual(st, 400)
        cbs = self.emu.callbacks()
        self.assertEqual(len(cbs), 1)
        self.assertEqual((cbs[0]["data"], cbs[0]["text"]), ("ack:12", "acked"))

    def test_webhook_and_conflict(self):
        self.emu.config(webhook=True)
        st, r, _ = self.api("getUpdates", {})
        self.assertEqual((st, r["description"]), (409, tgemu.E_WEBHOOK))
        st, r, _ = self.api("getWebhookInfo", {})
        self.assertTrue(r["result"]["url"])
        self.emu.update("/status")
        st, r, _ = self.api("deleteWebhook", {})
        self.assertEqual((st, r["result"]), (200, True))
        st, r, _ = self.api("getUpdates", {})
        self.assertEqual((st, len(r["result"])), (200, 1))
        calls = self.emu.state()["delete_webhook_calls"]
        self.assertEqual(calls[0]["drop_pending_updates"], False)
        self.assertFalse(calls[0]["drop_pending_updates_passed"])
        self.emu.config(conflict=True)
        st, r, _ = self.api("getUpdates", {})
        self.assertEqual((st, r["description"]), (409, tgemu.E_CONFLICT))

    def test_set_my_commands(self):
        ok = [{"command": "status", "description": "Show status"},
              {"command": "retry_now", "description": "Retry now"}]
        st, r, _ = self.api("setMyCommands", {"commands": ok})
        self.assertEqual((st, r["result"]), (200, True))
        st, r, _ = self.api("setMyCommands", {"commands": json.dumps(ok)},
                            form=True)
        self.assertEqual(st, 200)
        for bad in ([{"command": "retry-now", "description": "x"}],
                    [{"command": "Status", "description": "x"}],
                    [{"command": "a" * 33, "description": "x"}],
                    [{"command": "ok", "description": ""}],
                    [{"command": "ok", "description": "d" * 257}]):
            st, r, _ = self.api("setMyCommands", {"commands": bad})
            self.assertEqual(st, 400, bad)
        cmds = self.emu.commands()
        self.assertEqual(len(cmds), 1)
        self.assertEqual([c["command"] for c in cmds[0]["commands"]],
                         ["status", "retry_now"])


class TestBehavioursAndFaults(EmuTestCase):
    def test_chat_behaviours(self):
        cases = [("not_found", 400, "Bad Request: chat not found"),
                 ("blocked", 403, "Forbidden: bot was blocked by the user"),
                 ("kicked", 403,
                  "Forbidden: bot was kicked from the supergroup chat")]
        for beh, code, desc in cases:
            self.emu.chat(-200, beh)
            st, r = self.send(-200, "x")
            self.assertEqual((st, r["description"]), (code, desc))
        self.emu.chat(-200, "normal")
        self.assertEqual(self.send(-200, "x")[0], 200)
        self.emu.chat(-300, "migrate", migrate_to=-1000000000300)
        st, r = self.send(-300, "x")
        self.assertEqual(st, 400)
        self.assertEqual(r["description"], tgemu.E_MIGRATED)
        self.assertEqual(r["parameters"], {"migrate_to_chat_id":
                                           -1000000000300})
        st, r = self.send(-1000000000300, "x")
        self.assertEqual(st, 200)
        self.assertEqual(r["result"]["chat"]["type"], "supergroup")
        self.emu.chat(-1000000000400, "no_thread")
        st, r = self.send(-1000000000400, "x", message_thread_id=5)
        self.assertEqual((st, r["description"]), (400, tgemu.E_THREAD))
        st, r = self.send(-1000000000400, "x")
        self.assertEqual(st, 200)
        st, r = self.send(-1000000000500, "t", message_thread_id=5)
        self.assertEqual(r["result"]["message_thread_id"], 5)
        self.assertEqual(self.emu.messages(-1000000000500)[0]["thread_id"], 5)
        self.assertEqual(len(self.emu.messages()), 4)

    def raw_request(self, method="sendMessage", timeout=3):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("POST", "/bot%s/%s" % (TOKEN, method),
                      body=json.dumps({"chat_id": 1, "text": "x"}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r, r.read()
        finally:
            c.close()

    def test_fault_kinds(self):
        self.emu.fault("5xx", count=1)
        r, data = self.raw_request()
        self.assertEqual(r.status, 500)
        self.assertEqual(json.loads(data)["description"],
                         "Internal Server Error")
        self.emu.fault("html502")
        r, data = self.raw_request()
        self.assertEqual(r.status, 502)
        self.assertIn("text/html", r.getheader("Content-Type"))
        self.assertIn(b"502 Bad Gateway", data)
        self.emu.fault("garbage")
        r, data = self.raw_request()
        self.assertEqual(r.status, 200)
        self.assertRaises(ValueError, json.loads, data)
        self.emu.fault("empty")
        r, data = self.raw_request()
        self.assertEqual((r.status, data), (200, b""))
        self.emu.fault("reset")
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.raw_request()
        self.emu.fault("timeout", hold=5)
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.raw_request(timeout=0.3)
        self.assertLess(time.monotonic() - t0, 2)
        self.emu.fault("timeout", hold=0.2)
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.raw_request(timeout=3)
        self.emu.fault("down", seconds=0.5)
        for _ in range(3):
            with self.assertRaises((ConnectionError,
                                    http.client.HTTPException)):
                self.raw_request("getMe")
        time.sleep(0.6)
        r, data = self.raw_request()
        self.assertEqual(r.status, 200)
        s = self.emu.stats()
        self.assertEqual(s["faults_applied"], 10)
        self.assertEqual(s["faults_by_kind"]["down"], 3)
        self.assertEqual(s["sent"], 1)
        self.assertEqual(len(self.emu.messages()), 1)
        outcomes = [q["outcome"] for q in self.emu.requests()]
        self.assertEqual(outcomes[0], "fault:5xx")
        self.assertEqual(s["emulator_errors"], 0)

    def test_fault_method_filter_and_count(self):
        self.emu.fault("5xx", count=2, methods=["sendMessage"], status=503)
        self.assertEqual(self.raw_request("getMe")[0].status, 200)
        self.assertEqual(self.raw_request()[0].status, 503)
        self.assertEqual(self.raw_request()[0].status, 503)
        self.assertEqual(self.raw_request()[0].status, 200)
        self.emu.fault("5xx", seconds=30)
        self.assertEqual(len(self.emu.faults()), 1)
        self.assertEqual(self.raw_request("getMe")[0].status, 500)
        self.emu.clear_faults()
        self.assertEqual(self.raw_request("getMe")[0].status, 200)

    def test_fault_parse_entities_only_hits_html(self):
        self.emu.fault("parse_entities", count=1, methods=["sendMessage"])
        # not HTML, not a listed method: pass, and the count is kept
        self.assertEqual(self.send(111, "plain <x>")[0], 200)
        self.assertEqual(self.api("getMe")[0], 200)
        st, r = self.html("<b>fine</b>")
        self.assertEqual(st, 400)
        self.assertEqual(r["error_code"], 400)
        self.assertEqual(r["description"], tgemu.E_ENTITIES)
        self.assertTrue(r["description"].startswith(
            "Bad Request: can't parse entities: "))
        # used up: the same HTML passes now
        self.assertEqual(self.html("<b>fine</b>")[0], 200)
        # form-encoded, case-insensitive parse_mode; seconds
        self.emu.fault("parse_entities", seconds=30)
        st, r, _ = self.api("sendMessage", {"chat_id": 111, "text": "a",
                                            "parse_mode": "html"}, form=True)
        self.assertEqual(st, 400)
        self.assertEqual(self.html("<i>again</i>")[0], 400)
        self.assertEqual(self.send(111, "plain")[0], 200)
        self.emu.clear_faults()
        s = self.emu.stats()
        self.assertEqual(s["faults_by_kind"]["parse_entities"], 3)
        self.assertEqual([m["parse_mode"] for m in self.emu.messages()],
                         [None, "HTML", None])
        outcomes = [q["outcome"] for q in self.emu.requests("sendMessage")]
        self.assertEqual(outcomes.count("fault:parse_entities"), 3)
        self.assertEqual(s["emulator_errors"], 0)

    def test_fault_on_get_updates(self):
        self.emu.fault("html502", methods=["getUpdates"])
        st, r, _ = self.api("getUpdates", {})
        self.assertEqual(st, 502)
        st, r, _ = self.api("getUpdates", {})
        self.assertEqual(st, 200)


class TestControl(EmuTestCase):
    def test_control_round_trip(self):
        cfg = self.emu.config(chat_burst=7, webhook=True)["config"]
        self.assertEqual((cfg["chat_burst"], cfg["webhook"]), (7, True))
        self.assertEqual(self.emu.get_config()["chat_burst"], 7)
        for bad in ({"nope": 1}, {"chat_burst": "x"}, {"webhook": 1}):
            with self.assertRaises(Exception):
                self.emu._post("config", bad)
        with self.assertRaises(Exception):
            self.emu.fault("meteor")
        with self.assertRaises(Exception):
            self.emu.chat(1, "migrate")
        with self.assertRaises(Exception):
            self.emu._call("GET", "/_emu/nothing")
        self.send(9, "a")
        self.emu.fault("5xx", seconds=10)
        self.emu.chat(9, "blocked")
        self.emu.update("/x")
        self.emu.reset()
        self.assertEqual(self.emu.messages(), [])
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.emu.faults(), [])
        self.assertEqual(self.emu.updates_state()["pending"], [])
        self.assertEqual(self.emu.get_config(), tgemu.DEFAULT_CONFIG)
        self.assertEqual(self.emu.stats()["sent"], 0)
        self.emu.config(chat_burst=100)
        st, r = self.send(9, "b")
        self.assertEqual(st, 200)
        self.assertGreater(r["result"]["message_id"], 1)  # ids not reused
        self.assertEqual(self.emu.wait_messages(1, chat_id=9)[0]["text"], "b")
        self.assertEqual(self.emu.bot("getMe")[0], 200)
        with self.assertRaises(TimeoutError):
            self.emu.wait_for(lambda: False, timeout=0.2)
        self.assertEqual(self.emu.wait_for(lambda c: c.stats()["sent"]), 1)
        reqs = self.emu.requests()
        self.assertEqual(reqs[0]["method"], "sendMessage")
        self.assertEqual(reqs[0]["chat_id"], 9)
        self.assertEqual(reqs[0]["status"], 200)
        self.assertIn("time_ms", reqs[0])


class TestSubprocess(unittest.TestCase):
    def test_cli_port_file_print_and_sigterm(self):
        with tempfile.TemporaryDirectory() as d:
            pf = os.path.join(d, "port")
            log = os.path.join(d, "log")
            p = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "tgemu.py"), "--port", "0",
                 "--token", TOKEN, "--port-file", pf, "--print", "--log", log],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                emu = EmuClient.from_port_file(pf, token=TOKEN, wait=10)
                st, r = emu.bot("sendMessage", chat_id=-1001,
                                text="<b>disk</b> full", parse_mode="HTML",
                                disable_notification=True)
                self.assertEqual(st, 200, r)
                st, r = emu.bot("getMe", token="1:bad")
                self.assertEqual(st, 401)
                self.assertEqual(emu.messages()[0]["text"], "disk full")
            finally:
                p.send_signal(signal.SIGTERM)
                out, err = p.communicate(timeout=10)
            self.assertEqual(p.returncode, 0)
            port = int(emu.base_url.rsplit(":", 1)[1])
            self.assertIn("tgemu listening on 127.0.0.1:%d" % port,
                          err.decode())
            self.assertIn("── chat -1001 · message 1 · 🔕 silent\ndisk full",
                          out.decode())
            with open(log) as f:
                text = f.read()
            self.assertIn("sendMessage", text)
            self.assertNotIn("TESTTOKEN", text)
            self.assertFalse(os.path.exists(pf))


if __name__ == "__main__":
    unittest.main()
