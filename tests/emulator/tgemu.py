#!/usr/bin/env python3
"""tgemu - a Telegram Bot API emulator for opsbot's tests and demo.

Python 3.11 standard library only. Listens on 127.0.0.1 only.

    python3 tests/emulator/tgemu.py --port 0 --token 123456:TESTTOKEN \
        [--port-file PATH] [--print] [--log FILE]

Bot API:     POST/GET /bot<TOKEN>/<method>   (JSON, form-urlencoded,
             multipart or query string), the methods opsbot uses, with
             Telegram's validation (strict HTML parse mode, UTF-16 length),
             flood limits (per chat, per group, global) and error replies.
Control API: JSON over HTTP under /_emu/ on the same port, no token
             (Python wrapper: tests/emulator/emuclient.py):
  GET    /_emu/messages[?chat_id=]  bot messages in arrival order: chat_id,
         thread_id, message_id, text (visible), html (as sent), parse_mode,
         entities, silent, reply_to, reply_markup, link_preview_*, date_ms,
         edits [{text, html, date_ms, ...}]
  GET    /_emu/requests[?method=&since=SEQ]  every Bot API request: seq,
         method, chat_id, time_ms, status (0 = no HTTP answer), outcome
  GET    /_emu/stats      requests_by_method, sent, edits, errors_by_code,
         rate_limited (+ _by_scope), early, early_detail, html_errors,
         faults_applied, faults_by_kind, poll_conflicts, emulator_errors
  GET    /_emu/config     POST /_emu/config {any subset of DEFAULT_CONFIG}
  POST   /_emu/chat {"chat_id", "behaviour": normal|not_found|blocked|kicked|
         migrate|no_thread, "migrate_to", "clear_block"}
  POST   /_emu/unblock {"chat_id"?}   forget retry_after blocks
  POST   /_emu/fault {"kind": 5xx|html502|timeout|reset|garbage|empty|down|429|
         parse_entities|lost_answer, "count": N | "seconds": S (neither: count 1),
         "methods": [...], "hold": s (timeout, default 40), "status": 5xx
         code (5xx), "retry_after": N (429)}   (a list appends several)
         parse_entities answers only requests with parse_mode HTML (400
         "can't parse entities"); others pass and do not use up a count
         lost_answer does the call (the message is in the chat) and then
         resets the connection instead of answering
  GET    /_emu/fault      DELETE /_emu/fault (clears)
  POST   /_emu/update {"text", "from_id", "chat_id", "chat_type", "username",
         "message_thread_id"} or {"raw": {...update without update_id}}
         -> {"update_id", "message_id"}
  POST   /_emu/callback {"data", "from_id", "chat_id", "message_id",
         "username"} -> {"update_id", "callback_query_id"}
  GET    /_emu/callbacks (answered)   /_emu/commands   /_emu/updates_state
         /_emu/state (webhook, behaviours, deleteWebhook calls, blocks)
  POST   /_emu/reset      everything back to defaults

Facts it follows are those of the Bot API documentation
(https://core.telegram.org/bots/api). Ids (update_id, per-chat
message_id) are never reused within one emulator process, even across
/_emu/reset, so a bot that persisted an offset or a message id is never
confused by a reset.
"""

import argparse
import collections
import email.parser
import email.policy
import json
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "opsbot-test",
            "username": "opsbot_test_bot", "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False}

DEFAULT_CONFIG = {
    "chat_burst": 3,          # per-chat token bucket capacity (0 = off)
    "chat_rate": 1.0,         # per-chat refill, tokens per second
    "group_per_minute": 20,   # chat_id < 0: messages in any 60 s (0 = off)
    "global_per_second": 30,  # all chats: messages in any 1 s (0 = off)
    "webhook": False,         # getUpdates -> 409 while set
    "conflict": False,        # getUpdates -> 409 terminated by other ...
    "enforce_retry_after": True,  # 429 again while a chat is blocked
    "early_tolerance_ms": 0,  # grace before a request counts as "early"
    "max_length": 4096,       # visible UTF-16 units per message
}

MAX_BODY = 16 * 1024 * 1024
MAX_REQUEST_LOG = 1_000_000
MAX_EARLY_DETAIL = 10_000

E_UTF8 = "Bad Request: strings must be encoded in UTF-8"
E_EMPTY = "Bad Request: message text is empty"
E_LONG = "Bad Request: message is too long"
E_CHAT_NOT_FOUND = "Bad Request: chat not found"
E_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
E_NOT_MODIFIED = ("Bad Request: message is not modified: specified new "
                  "message content and reply markup are exactly the same as "
                  "a current content and reply markup of the message")
E_QUERY = ("Bad Request: query is too old and response timeout expired or "
           "query ID is invalid")
E_WEBHOOK = ("Conflict: can't use getUpdates method while webhook is active;"
             " use deleteWebhook to delete the webhook first")
E_CONFLICT = ("Conflict: terminated by other getUpdates request; make sure "
              "that only one bot instance is running")
E_MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
E_THREAD = "Bad Request: message thread not found"
E_BLOCKED = "Forbidden: bot was blocked by the user"
E_KICKED = "Forbidden: bot was kicked from the supergroup chat"
E_ENTITIES = ("Bad Request: can't parse entities: Unsupported start tag "
              "\"x\" at byte offset 0")

NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
             b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
             b"<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n")

FAULT_KINDS = ("5xx", "html502", "timeout", "reset", "garbage", "empty",
               "down", "429", "parse_entities", "lost_answer")
BEHAVIOURS = ("normal", "not_found", "blocked", "kicked", "migrate",
              "no_thread")

TOKEN_RE = re.compile(r"bot\d+:[A-Za-z0-9_-]+")


def redact(s):
    return TOKEN_RE.sub("bot<redacted>", s)


def utf16_len(s):
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


def now_ms():
    return int(time.time() * 1000)


class ApiError(Exception):
    """A Bot API error reply."""

    def __init__(self, code, description, parameters=None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self):
        b = {"ok": False, "error_code": self.code,
             "description": self.description}
        if self.parameters:
            b["parameters"] = self.parameters
        return b


# ---------------------------------------------------------------- HTML mode

class HtmlError(Exception):
    def __init__(self, reason, pos):
        super().__init__(reason)
        self.reason = reason
        self.pos = pos  # index into the str


TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
ATTR_NAME_RE = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.-]*")
ENTITY_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9A-Fa-f]{1,8}|[A-Za-z][A-Za-z0-9]{0,31});")
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
SUPPORTED_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline", "s": "strikethrough",
    "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
WS = " \t\r\n"


def _entity(s, i):
    """Decodes the entity at s[i] == '&'; returns (text, end index)."""
    m = ENTITY_RE.match(s, i)
    if not m:
        raise HtmlError('bare "&" must be escaped as "&amp;"', i)
    body = m.group(1)
    if body[0] == "#":
        try:
            cp = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
        except ValueError:
            cp = -1
        if cp <= 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            raise HtmlError('invalid numeric character reference "%s"'
                            % m.group(0), i)
        return chr(cp), m.end()
    if body not in NAMED_ENTITIES:
        raise HtmlError('unsupported HTML entity "%s"' % m.group(0), i)
    return NAMED_ENTITIES[body], m.end()


def _attr_value(s, start, end):
    out = []
    i = start
    while i < end:
        c = s[i]
        if c == "&":
            t, i = _entity(s, i)
            out.append(t)
        elif c == "<":
            raise HtmlError('bare "<" in attribute value must be escaped as '
                            '"&lt;"', i)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _check_attrs(name, attrs, pos):
    allowed = {"a": {"href"}, "span": {"class"}, "code": {"class"},
               "blockquote": {"expandable"}, "tg-emoji": {"emoji-id"}}
    for a in attrs:
        if a not in allowed.get(name, ()):
            raise HtmlError('unsupported attribute "%s" in tag "%s"'
                            % (a, name), pos)
    if name == "a" and not attrs.get("href"):
        raise HtmlError('tag "a" must have a non-empty href attribute', pos)
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise HtmlError('tag "span" must have class "tg-spoiler"', pos)
    if name == "code" and "class" in attrs:
        c = attrs["class"] or ""
        if not c.startswith("language-") or len(c) <= len("language-"):
            raise HtmlError('unsupported class "%s" in tag "code"' % c, pos)
    if name == "tg-emoji" and not (attrs.get("emoji-id") or "").isdigit():
        raise HtmlError('tag "tg-emoji" must have a numeric emoji-id', pos)


def parse_html(s):
    """Strictly parses Telegram HTML. Returns (visible text, entities) with
    entity offsets in UTF-16 units; raises HtmlError."""
    out = []
    u16 = 0
    stack = []
    entities = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "&":
            t, i = _entity(s, i)
            out.append(t)
            u16 += utf16_len(t)
        elif c == "<" and i + 1 < n and s[i + 1] == "/":
            m = TAG_NAME_RE.match(s, i + 2)
            if not m:
                raise HtmlError("empty or invalid end tag name", i)
            name = m.group(0).lower()
            j = m.end()
            while j < n and s[j] in WS:
                j += 1
            if j >= n or s[j] != ">":
                raise HtmlError('unclosed end tag "%s"' % name, i)
            if not stack:
                raise HtmlError('unexpected end tag "%s"' % name, i)
            top = stack[-1]
            if top["name"] != name:
                raise HtmlError('unmatched end tag "%s", expected "</%s>"'
                                % (name, top["name"]), i)
            stack.pop()
            length = u16 - top["u16"]
            if name == "code" and stack and stack[-1]["name"] == "pre":
                stack[-1]["language"] = (top["attrs"].get("class") or "")[9:]
            elif length > 0:
                e = {"type": SUPPORTED_TAGS[name], "offset": top["u16"],
                     "length": length}
                if name == "a":
                    e["url"] = top["attrs"]["href"]
                elif name == "pre" and top.get("language"):
                    e["language"] = top["language"]
                elif name == "blockquote" and "expandable" in top["attrs"]:
                    e["type"] = "expandable_blockquote"
                elif name == "tg-emoji":
                    e["custom_emoji_id"] = top["attrs"]["emoji-id"]
                entities.append(e)
            i = j + 1
        elif c == "<":
            m = TAG_NAME_RE.match(s, i + 1)
            if not m:
                raise HtmlError('bare "<" must be escaped as "&lt;"', i)
            name = m.group(0).lower()
            if name not in SUPPORTED_TAGS:
                raise HtmlError('unsupported start tag "%s"' % name, i)
            j = m.end()
            attrs = {}
            while True:
                while j < n and s[j] in WS:
                    j += 1
                if j >= n:
                    raise HtmlError('unclosed start tag "%s"' % name, i)
                if s[j] == ">":
                    j += 1
                    break
                if s[j] == "/":
                    raise HtmlError('self-closing tag "%s" is not supported'
                                    % name, i)
                am = ATTR_NAME_RE.match(s, j)
                if not am:
                    raise HtmlError('invalid character in tag "%s"' % name, j)
                aname = am.group(0).lower()
                j = am.end()
                while j < n and s[j] in WS:
                    j += 1
                val = None
                if j < n and s[j] == "=":
                    j += 1
                    while j < n and s[j] in WS:
                        j += 1
                    if j >= n or s[j] not in "\"'":
                        raise HtmlError('value of attribute "%s" must be '
                                        'quoted' % aname, j)
                    k = s.find(s[j], j + 1)
                    if k < 0:
                        raise HtmlError('unclosed value of attribute "%s"'
                                        % aname, j)
                    val = _attr_value(s, j + 1, k)
                    j = k + 1
                if aname in attrs:
                    raise HtmlError('duplicate attribute "%s"' % aname, i)
                attrs[aname] = val
            _check_attrs(name, attrs, i)
            if stack:
                top = stack[-1]["name"]
                if top == "code" or (top == "pre" and name != "code"):
                    raise HtmlError('tag "%s" is not allowed inside "%s"'
                                    % (name, top), i)
            if name == "blockquote" and any(t["name"] == "blockquote"
                                            for t in stack):
                raise HtmlError("nested blockquote is not allowed", i)
            stack.append({"name": name, "attrs": attrs, "u16": u16, "pos": i})
            i = j
        else:
            out.append(c)
            u16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
    if stack:
        t = stack[-1]
        raise HtmlError('can\'t find end tag corresponding to start tag "%s"'
                        % t["name"], t["pos"])
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def trim_text(text, entities):
    """Telegram trims leading/trailing spaces and newlines of a message."""
    stripped = text.strip(WS)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[:len(text) - len(text.lstrip(WS))])
    total = utf16_len(stripped)
    res = []
    for e in entities:
        start = max(0, e["offset"] - lead)
        end = min(total, e["offset"] + e["length"] - lead)
        if end > start:
            e = dict(e, offset=start, length=end - start)
            res.append(e)
    return stripped, res


def byte_offset(s, pos):
    return len(s[:pos].encode("utf-8"))


# --------------------------------------------------------------- parameters

def _scalar_str(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return v


def p_int(p, name, required=False, empty_msg=None):
    v = p.get(name)
    if v is None or v == "":
        if required:
            raise ApiError(400, empty_msg or "Bad Request: %s is empty" % name)
        return None
    if isinstance(v, bool):
        raise ApiError(400, "Bad Request: invalid %s specified" % name)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    raise ApiError(400, "Bad Request: invalid %s specified" % name)


def p_bool(p, name):
    v = p.get(name)
    if v is None or v == "":
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, str) and v.strip().lower() in ("true", "1"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "0"):
        return False
    raise ApiError(400, "Bad Request: invalid %s specified" % name)


def p_json(p, name, what=None):
    v = p.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse %s JSON object"
                           % (what or name))
    return v


def p_chat_id(p):
    v = p.get("chat_id")
    if v is None or v == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(v, str) and v.startswith("@"):
        raise ApiError(400, E_CHAT_NOT_FOUND)
    try:
        return p_int(p, "chat_id")
    except ApiError:
        raise ApiError(400, E_CHAT_NOT_FOUND)


def check_utf8(v):
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, E_UTF8)
    elif isinstance(v, dict):
        for k, x in v.items():
            check_utf8(k)
            check_utf8(x)
    elif isinstance(v, list):
        for x in v:
            check_utf8(x)


def parse_form(data):
    try:
        return dict(parse_qsl(data, keep_blank_values=True,
                              encoding="utf-8", errors="strict"))
    except UnicodeDecodeError:
        raise ApiError(400, E_UTF8)
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse request parameters")


def parse_params(query, body, ctype):
    params = {}
    if query:
        params.update(parse_form(query))
    if body:
        ct = (ctype or "").split(";")[0].strip().lower()
        if ct == "multipart/form-data":
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
            if not msg.is_multipart():
                raise ApiError(400, "Bad Request: can't parse multipart body")
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not name:
                    continue
                data = part.get_payload(decode=True) or b""
                try:
                    params[name] = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise ApiError(400, E_UTF8)
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, E_UTF8)
            if ct == "application/json" or (
                    ct != "application/x-www-form-urlencoded"
                    and text.lstrip()[:1] == "{"):
                try:
                    obj = json.loads(text)
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON object")
                if not isinstance(obj, dict):
                    raise ApiError(400, "Bad Request: JSON object expected")
                params.update(obj)
            else:
                params.update(parse_form(text))
    check_utf8(params)
    return params


def chat_object(chat_id):
    if chat_id > 0:
        return {"id": chat_id, "type": "private",
                "first_name": "User%d" % chat_id}
    if chat_id <= -1000000000000:
        return {"id": chat_id, "type": "supergroup",
                "title": "Supergroup %d" % chat_id}
    return {"id": chat_id, "type": "group", "title": "Group %d" % chat_id}


def validate_markup(markup):
    """Returns the normalized reply_markup (None for none)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup "
                       "JSON object")
    if "inline_keyboard" in markup:
        kb = markup["inline_keyboard"]
        if not isinstance(kb, list) or not all(isinstance(r, list) for r in kb):
            raise ApiError(400, "Bad Request: field \"inline_keyboard\" of "
                           "the InlineKeyboardMarkup must be an Array of Arrays")
        for row in kb:
            for b in row:
                if not isinstance(b, dict) or not isinstance(b.get("text"), str) \
                        or not b["text"]:
                    raise ApiError(400, "Bad Request: can't parse inline "
                                   "keyboard button: Text buttons are "
                                   "unallowed in the inline keyboard")
                if "callback_data" in b:
                    d = b["callback_data"]
                    if not isinstance(d, str) or not 1 <= len(d.encode()) <= 64:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                elif not any(k in b for k in ("url", "login_url",
                                              "switch_inline_query", "pay",
                                              "web_app", "copy_text",
                                              "callback_game",
                                              "switch_inline_query_current_chat")):
                    raise ApiError(400, "Bad Request: can't parse inline "
                                   "keyboard button: Text buttons are "
                                   "unallowed in the inline keyboard")
        if not any(kb):
            return None
    return markup


def visible_of(p):
    """Validates text/parse_mode; returns (visible, entities, html, mode)."""
    raw = p.get("text")
    if isinstance(raw, (dict, list)):
        raise ApiError(400, "Bad Request: invalid text specified")
    raw = _scalar_str(raw)
    if raw is None or raw == "":
        raise ApiError(400, E_EMPTY)
    mode = p.get("parse_mode") or None
    if mode is not None and not isinstance(mode, str):
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    if mode is not None and mode.lower() != "html":
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    if mode:
        try:
            text, ents = parse_html(raw)
        except HtmlError as e:
            err = ApiError(400, "Bad Request: can't parse entities: %s at byte "
                           "offset %d" % (e.reason, byte_offset(raw, e.pos)))
            err.html_error = True
            raise err
    else:
        text, ents = raw, []
    text, ents = trim_text(text, ents)
    return text, ents, raw, mode


# ------------------------------------------------------------------ emulator

class Emulator:
    """All state, behind one lock/condition. Thread-safe."""

    def __init__(self, token, print_out=None, log_file=None):
        self.token = token
        self.cond = threading.Condition()
        self.stop_event = threading.Event()
        self.print_out = print_out
        self.log_file = log_file
        self.next_update_id = 100001
        self.next_msg_id = collections.defaultdict(lambda: 1)
        self.next_cbq = 1
        self.request_seq = 0
        self.poll_gen = 0        # kept across reset: a waiting poll survives
        self.polls_waiting = 0
        self.reset()

    # ---------------------------------------------------------- state
    def reset(self):
        with self.cond:
            self.cfg = dict(DEFAULT_CONFIG)
            self.messages = []             # bot messages, arrival order
            self.msg_index = {}            # (chat, mid) -> record
            self.user_msgs = set()         # (chat, mid) injected by users
            self.requests = collections.deque(maxlen=MAX_REQUEST_LOG)
            self.stats = {
                "requests": 0, "requests_by_method": {}, "sent": 0,
                "edits": 0, "errors_by_code": {}, "rate_limited": 0,
                "rate_limited_by_scope": {"chat": 0, "group": 0,
                                          "global": 0, "blocked": 0},
                "early": 0, "early_detail": [], "html_errors": 0,
                "faults_applied": 0, "faults_by_kind": {},
                "updates_injected": 0, "updates_delivered": 0,
                "poll_conflicts": 0, "emulator_errors": 0,
            }
            self.faults = []
            self.behaviours = {}
            self.buckets = {}
            self.group_win = collections.defaultdict(collections.deque)
            self.global_win = collections.deque()
            self.blocked_until = {}
            self.pending = []              # updates not yet confirmed
            self.confirmed_offset = 0
            self.last_offset = None
            self.allowed_updates = None
            self.allowed_updates_history = []
            self.callbacks_issued = {}     # id -> callback_query
            self.callbacks_answered = []
            self.commands = {}             # scope/lang key -> list
            self.delete_webhook_calls = []
            self.cond.notify_all()

    def shutdown(self):
        self.stop_event.set()
        with self.cond:
            self.cond.notify_all()

    def _count(self, d, key, n=1):
        d[key] = d.get(key, 0) + n

    def log_request(self, method, chat_id, status, outcome, extra=None):
        with self.cond:
            self.request_seq += 1
            # compact tuples: the log may hold a million entries
            self.requests.append((self.request_seq, method, chat_id,
                                  now_ms(), status, outcome, extra))
            self.stats["requests"] += 1
            self._count(self.stats["requests_by_method"], method)
            if status and status != 200:
                self._count(self.stats["errors_by_code"], str(status))
            if status == 429:
                self.stats["rate_limited"] += 1
        if self.log_file:
            try:
                self.log_file.write("%s %s chat=%s status=%s %s\n" % (
                    time.strftime("%H:%M:%S"), method, chat_id, status,
                    redact(str(outcome))))
                self.log_file.flush()
            except (OSError, ValueError):
                pass

    # ---------------------------------------------------------- faults
    def take_fault(self, method, params=None):
        """The first live fault for method, used up by one; None if none.
        params: a callable returning the request's parameters (or None),
        asked only when a fault depends on them (parse_entities)."""
        html = None
        with self.cond:
            now = time.monotonic()
            live = []
            hit = None
            for f in self.faults:
                if f["until"] is not None and now >= f["until"]:
                    continue
                if f["remaining"] is not None and f["remaining"] <= 0:
                    continue
                live.append(f)
                if hit is None and (not f["methods"]
                                    or method.lower() in f["methods"]):
                    if f["kind"] == "parse_entities":
                        if html is None:
                            p = params() if params else None
                            html = bool(p) and str(p.get("parse_mode") or
                                                   "").lower() == "html"
                        if not html:
                            continue
                    hit = f
            self.faults = live
            if hit is None:
                return None
            if hit["remaining"] is not None:
                hit["remaining"] -= 1
            hit["applied"] += 1
            self.stats["faults_applied"] += 1
            self._count(self.stats["faults_by_kind"], hit["kind"])
            return dict(hit)

    def add_fault(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be an object")
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(FAULT_KINDS))
        count, seconds = spec.get("count"), spec.get("seconds")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer")
        if seconds is not None and (not isinstance(seconds, (int, float))
                                    or seconds <= 0):
            raise ValueError("seconds must be a positive number")
        if count is None and seconds is None:
            count = 1
        methods = spec.get("methods") or []
        if isinstance(methods, str):
            methods = [methods]
        if not isinstance(methods, list) or not all(isinstance(m, str)
                                                    for m in methods):
            raise ValueError("methods must be a list of method names")
        hold = spec.get("hold", 40)
        if not isinstance(hold, (int, float)) or hold < 0:
            raise ValueError("hold must be a number >= 0")
        status = spec.get("status", 500)
        if kind == "5xx" and (not isinstance(status, int)
                              or not 500 <= status <= 599):
            raise ValueError("status must be 500..599")
        retry_after = spec.get("retry_after", 5)
        if not isinstance(retry_after, int) or retry_after < 1:
            raise ValueError("retry_after must be a positive integer")
        f = {"kind": kind, "count": count, "seconds": seconds,
             "remaining": count,
             "until": time.monotonic() + seconds if seconds else None,
             "methods": [m.lower() for m in methods], "hold": hold,
             "status": status, "retry_after": retry_after, "applied": 0}
        with self.cond:
            self.faults.append(f)
        return f

    def list_faults(self):
        with self.cond:
            now = time.monotonic()
            return [{"kind": f["kind"], "count": f["count"],
                     "remaining": f["remaining"],
                     "seconds_left": (max(0.0, f["until"] - now)
                                      if f["until"] else None),
                     "methods": f["methods"], "applied": f["applied"]}
                    for f in self.faults]

    # ---------------------------------------------------------- limits
    def _note_early(self, chat_id, method):
        bu = self.blocked_until.get(chat_id)
        if bu is None:
            return
        now = time.monotonic()
        early = bu - now
        if early > self.cfg["early_tolerance_ms"] / 1000.0:
            self.stats["early"] += 1
            det = self.stats["early_detail"]
            if len(det) < MAX_EARLY_DETAIL:
                det.append({"chat_id": chat_id, "method": method,
                            "early_ms": int(early * 1000),
                            "time_ms": now_ms()})

    def _rate_check(self, chat_id):
        """Consumes one send for chat_id or raises a 429 ApiError."""
        cfg = self.cfg
        now = time.monotonic()
        waits = []
        burst, rate = cfg["chat_burst"], cfg["chat_rate"]
        b = None
        if burst and burst > 0:
            b = self.buckets.get(chat_id) or [float(burst), now]
            tokens = min(float(burst), b[0] + (now - b[1]) * max(rate, 0))
            b[0], b[1] = tokens, now
            self.buckets[chat_id] = b
            if tokens < 1:
                waits.append(("chat", (1 - tokens) / rate if rate > 0
                              else 3600.0))
        bu = self.blocked_until.get(chat_id)
        if cfg["enforce_retry_after"] and bu is not None and now < bu:
            waits.append(("blocked", bu - now))
        gpm = cfg["group_per_minute"]
        if chat_id < 0 and gpm and gpm > 0:
            w = self.group_win[chat_id]
            while w and w[0] <= now - 60:
                w.popleft()
            if len(w) >= gpm:
                waits.append(("group", w[len(w) - gpm] + 60 - now))
        gps = cfg["global_per_second"]
        if gps and gps > 0:
            g = self.global_win
            while g and g[0] <= now - 1:
                g.popleft()
            if len(g) >= gps:
                waits.append(("global", g[len(g) - gps] + 1 - now))
        if waits:
            scope, wait = max(waits, key=lambda x: x[1])
            n = max(1, math.ceil(wait - 1e-9))
            self.blocked_until[chat_id] = now + n
            self._count(self.stats["rate_limited_by_scope"], scope)
            raise ApiError(429, "Too Many Requests: retry after %d" % n,
                           {"retry_after": n})
        if b is not None:
            b[0] -= 1
        if chat_id < 0 and gpm and gpm > 0:
            self.group_win[chat_id].append(now)
        if gps and gps > 0:
            self.global_win.append(now)

    def _chat_checks(self, chat_id, method):
        beh = self.behaviours.get(chat_id)
        if beh:
            k = beh["behaviour"]
            if k == "not_found":
                raise ApiError(400, E_CHAT_NOT_FOUND)
            if k == "blocked":
                raise ApiError(403, E_BLOCKED)
            if k == "kicked":
                raise ApiError(403, E_KICKED)
            if k == "migrate":
                raise ApiError(400, E_MIGRATED,
                               {"migrate_to_chat_id": beh["migrate_to"]})
        self._note_early(chat_id, method)
        return beh

    # ---------------------------------------------------------- Bot API
    def call(self, method, params):
        """Runs one Bot API method; returns the result or raises ApiError."""
        fn = {
            "getme": self.m_getme, "sendmessage": self.m_send,
            "editmessagetext": self.m_edit,
            "answercallbackquery": self.m_answer_cbq,
            "setmycommands": self.m_set_commands,
            "getmycommands": self.m_get_commands,
            "deletewebhook": self.m_delete_webhook,
            "setwebhook": self.m_set_webhook,
            "getwebhookinfo": self.m_webhook_info,
            "getupdates": self.m_get_updates,
        }.get(method.lower())
        if fn is None:
            raise ApiError(404, "Not Found")
        return fn(params)

    def m_getme(self, p):
        return dict(BOT_USER)

    def _resolve_reply(self, p, chat_id):
        rp = p_json(p, "reply_parameters")
        allow = p_bool(p, "allow_sending_without_reply")
        reply_to = None
        if rp is not None:
            if not isinstance(rp, dict):
                raise ApiError(400, "Bad Request: can't parse reply "
                               "parameters JSON object")
            reply_to = p_int(rp, "message_id", required=True,
                             empty_msg="Bad Request: message to be replied "
                             "not found")
            allow = allow or p_bool(rp, "allow_sending_without_reply")
            if rp.get("chat_id") not in (None, chat_id, str(chat_id)):
                raise ApiError(400, "Bad Request: message to be replied not "
                               "found")
        elif p.get("reply_to_message_id") not in (None, ""):
            reply_to = p_int(p, "reply_to_message_id")
        if reply_to is not None:
            key = (chat_id, reply_to)
            if key not in self.msg_index and key not in self.user_msgs:
                if not allow:
                    raise ApiError(400, "Bad Request: message to be replied "
                                   "not found")
                reply_to = None
        return reply_to

    def _message_obj(self, rec):
        m = {"message_id": rec["message_id"], "from": dict(BOT_USER),
             "chat": chat_object(rec["chat_id"]), "date": rec["date_ms"] // 1000,
             "text": rec["text"]}
        if rec["entities"]:
            m["entities"] = rec["entities"]
        if rec["thread_id"] is not None:
            m["message_thread_id"] = rec["thread_id"]
            m["is_topic_message"] = True
        if rec["reply_to"] is not None:
            m["reply_to_message"] = {"message_id": rec["reply_to"],
                                     "chat": chat_object(rec["chat_id"]),
                                     "date": rec["date_ms"] // 1000}
        if rec["reply_markup"] and "inline_keyboard" in rec["reply_markup"]:
            m["reply_markup"] = rec["reply_markup"]
        if rec["link_preview_options"] is not None:
            m["link_preview_options"] = rec["link_preview_options"]
        if rec["edits"]:
            m["edit_date"] = rec["edits"][-1]["date_ms"] // 1000
        return m

    def m_send(self, p):
        with self.cond:
            chat_id = p_chat_id(p)
            self._chat_checks(chat_id, "sendMessage")
            text, ents, html, mode = visible_of(p)
            if utf16_len(text) == 0:
                raise ApiError(400, E_EMPTY)
            if utf16_len(text) > self.cfg["max_length"]:
                raise ApiError(400, E_LONG)
            thread = p_int(p, "message_thread_id")
            beh = self.behaviours.get(chat_id)
            if thread is not None and beh and beh["behaviour"] == "no_thread":
                raise ApiError(400, E_THREAD)
            reply_to = self._resolve_reply(p, chat_id)
            markup = validate_markup(p_json(p, "reply_markup",
                                            "reply keyboard markup"))
            lpo = p_json(p, "link_preview_options")
            if lpo is not None and not isinstance(lpo, dict):
                raise ApiError(400, "Bad Request: can't parse link preview "
                               "options JSON object")
            silent = p_bool(p, "disable_notification")
            self._rate_check(chat_id)
            mid = self.next_msg_id[chat_id]
            self.next_msg_id[chat_id] = mid + 1
            rec = {"chat_id": chat_id, "thread_id": thread, "message_id": mid,
                   "text": text, "html": html, "parse_mode": mode,
                   "entities": ents, "silent": silent, "reply_to": reply_to,
                   "reply_markup": markup, "link_preview_options": lpo,
                   "link_preview_disabled": bool(
                       (lpo or {}).get("is_disabled")
                       or p_bool(p, "disable_web_page_preview")),
                   "date_ms": now_ms(), "edits": []}
            self.messages.append(rec)
            self.msg_index[(chat_id, mid)] = rec
            self.stats["sent"] += 1
            self._print(rec, edited=False)
            return self._message_obj(rec)

    def m_edit(self, p):
        with self.cond:
            if p.get("inline_message_id"):
                raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
            chat_id = p_chat_id(p)
            self._chat_checks(chat_id, "editMessageText")
            mid = p_int(p, "message_id", required=True,
                        empty_msg="Bad Request: message identifier is not "
                        "specified")
            rec = self.msg_index.get((chat_id, mid))
            if rec is None:
                if (chat_id, mid) in self.user_msgs:
                    raise ApiError(400, "Bad Request: message can't be edited")
                raise ApiError(400, E_EDIT_NOT_FOUND)
            text, ents, html, mode = visible_of(p)
            if utf16_len(text) == 0:
                raise ApiError(400, E_EMPTY)
            if utf16_len(text) > self.cfg["max_length"]:
                raise ApiError(400, E_LONG)
            markup = validate_markup(p_json(p, "reply_markup",
                                            "reply keyboard markup"))
            if markup is not None and "inline_keyboard" not in markup:
                raise ApiError(400, "Bad Request: inline keyboard expected")
            if (text == rec["text"] and ents == rec["entities"]
                    and markup == rec["reply_markup"]):
                raise ApiError(400, E_NOT_MODIFIED)
            self._rate_check(chat_id)
            ms = now_ms()
            rec["edits"].append({"text": text, "html": html,
                                 "parse_mode": mode, "entities": ents,
                                 "reply_markup": markup, "date_ms": ms,
                                 "previous_text": rec["text"]})
            rec.update(text=text, html=html, parse_mode=mode, entities=ents,
                       reply_markup=markup)
            self.stats["edits"] += 1
            self._print(rec, edited=True)
            return self._message_obj(rec)

    def m_answer_cbq(self, p):
        with self.cond:
            qid = p.get("callback_query_id")
            qid = _scalar_str(qid)
            if not qid or qid not in self.callbacks_issued:
                raise ApiError(400, E_QUERY)
            q = self.callbacks_issued.pop(qid)
            self.callbacks_answered.append({
                "callback_query_id": qid, "data": q.get("data"),
                "from_id": q["from"]["id"], "text": p.get("text"),
                "show_alert": p_bool(p, "show_alert"), "url": p.get("url"),
                "time_ms": now_ms()})
            return True

    def _cmd_key(self, p):
        scope = p_json(p, "scope") or {"type": "default"}
        lang = p.get("language_code") or ""
        return json.dumps([scope, lang], sort_keys=True), scope, lang

    def m_set_commands(self, p):
        cmds = p_json(p, "commands")
        if not isinstance(cmds, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(cmds) > 100:
            raise ApiError(400, "Bad Request: too many commands")
        for c in cmds:
            if not isinstance(c, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand")
            name, desc = c.get("command"), c.get("description")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}",
                                                             name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(desc, str) or not 1 <= len(desc.strip()) \
                    or len(desc) > 256:
                raise ApiError(400, "Bad Request: command description is "
                               "invalid")
        key, scope, lang = self._cmd_key(p)
        with self.cond:
            self.commands[key] = {"scope": scope, "language_code": lang,
                                  "commands": [{"command": c["command"],
                                                "description": c["description"]}
                                               for c in cmds],
                                  "time_ms": now_ms()}
        return True

    def m_get_commands(self, p):
        key, _, _ = self._cmd_key(p)
        with self.cond:
            e = self.commands.get(key)
            return list(e["commands"]) if e else []

    def m_delete_webhook(self, p):
        with self.cond:
            drop = p_bool(p, "drop_pending_updates")
            self.delete_webhook_calls.append({
                "drop_pending_updates": drop,
                "drop_pending_updates_passed": "drop_pending_updates" in p,
                "time_ms": now_ms()})
            self.cfg["webhook"] = False
            if drop:
                self.pending = []
            return True

    def m_set_webhook(self, p):
        with self.cond:
            self.cfg["webhook"] = bool(p.get("url"))
            return True

    def m_webhook_info(self, p):
        with self.cond:
            return {"url": "https://hooks.example.invalid/opsbot"
                    if self.cfg["webhook"] else "",
                    "has_custom_certificate": False,
                    "pending_update_count": len(self.pending)}

    def _update_type(self, u):
        for k in u:
            if k != "update_id":
                return k
        return None

    def m_get_updates(self, p):
        with self.cond:
            if self.cfg["webhook"]:
                raise ApiError(409, E_WEBHOOK)
            if self.cfg["conflict"]:
                raise ApiError(409, E_CONFLICT)
            offset = p_int(p, "offset")
            limit = p_int(p, "limit")
            limit = 100 if limit is None else min(100, max(1, limit))
            timeout = p_int(p, "timeout") or 0
            timeout = min(60, max(0, timeout))
            if "allowed_updates" in p:
                au = p_json(p, "allowed_updates")
                if au is not None and not (isinstance(au, list) and all(
                        isinstance(x, str) for x in au)):
                    raise ApiError(400, "Bad Request: can't parse "
                                   "allowed_updates JSON object")
                self.allowed_updates = au
                self.allowed_updates_history.append(au)
            if offset is not None:
                self.last_offset = offset
                if offset > 0:
                    self.pending = [u for u in self.pending
                                    if u["update_id"] >= offset]
                    self.confirmed_offset = max(self.confirmed_offset, offset)
                elif offset < 0:
                    self.pending = self.pending[offset:]
            self.poll_gen += 1
            me = self.poll_gen
            self.cond.notify_all()   # terminates an older waiting poll
            deadline = time.monotonic() + timeout
            self.polls_waiting += 1
            try:
                while True:
                    if self.poll_gen != me:
                        self.stats["poll_conflicts"] += 1
                        raise ApiError(409, E_CONFLICT)
                    au = self.allowed_updates
                    ups = [u for u in self.pending
                           if not au or self._update_type(u) in au][:limit]
                    rem = deadline - time.monotonic()
                    if ups or rem <= 0 or self.stop_event.is_set():
                        break
                    self.cond.wait(rem)
            finally:
                self.polls_waiting -= 1
            self.stats["updates_delivered"] += len(ups)
            return json.loads(json.dumps(ups))

    # ---------------------------------------------------------- injection
    def _user(self, spec):
        uid = spec.get("from_id", 111)
        u = {"id": uid, "is_bot": False,
             "first_name": spec.get("first_name") or "User%s" % uid}
        if spec.get("username"):
            u["username"] = spec["username"]
        return u

    def inject_update(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("update must be an object")
        with self.cond:
            uid = self.next_update_id
            if isinstance(spec.get("raw"), dict):
                upd = dict(spec["raw"], update_id=uid)
            else:
                text = spec.get("text")
                if not isinstance(text, str) or not text:
                    raise ValueError("text is required")
                from_id = spec.get("from_id", 111)
                if not isinstance(from_id, int):
                    raise ValueError("from_id must be an integer")
                chat_id = spec.get("chat_id", from_id)
                if not isinstance(chat_id, int):
                    raise ValueError("chat_id must be an integer")
                chat = chat_object(chat_id)
                ctype = spec.get("chat_type")
                if ctype:
                    chat["type"] = ctype
                    if ctype == "private":
                        chat.pop("title", None)
                        chat["first_name"] = "User%d" % chat_id
                    else:
                        chat.pop("first_name", None)
                        chat["title"] = "Chat %d" % chat_id
                if spec.get("username") and chat["type"] == "private":
                    chat["username"] = spec["username"]
                mid = self.next_msg_id[chat_id]
                self.next_msg_id[chat_id] = mid + 1
                self.user_msgs.add((chat_id, mid))
                msg = {"message_id": mid, "from": self._user(spec),
                       "chat": chat, "date": int(time.time()), "text": text}
                if spec.get("message_thread_id") is not None:
                    msg["message_thread_id"] = spec["message_thread_id"]
                    msg["is_topic_message"] = True
                m = re.match(r"/[A-Za-z0-9_-]+(@[A-Za-z0-9_]+)?", text)
                if m:
                    msg["entities"] = [{"type": "bot_command", "offset": 0,
                                        "length": utf16_len(m.group(0))}]
                upd = {"update_id": uid, "message": msg}
            self.next_update_id += 1
            self.pending.append(upd)
            self.stats["updates_injected"] += 1
            self.cond.notify_all()
            return {"update_id": uid,
                    "message_id": upd.get("message", {}).get("message_id")}

    def inject_callback(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("callback must be an object")
        data = spec.get("data")
        if not isinstance(data, str) or not data:
            raise ValueError("data is required")
        with self.cond:
            from_id = spec.get("from_id", 111)
            chat_id = spec.get("chat_id", from_id)
            mid = spec.get("message_id")
            if not isinstance(from_id, int) or not isinstance(chat_id, int):
                raise ValueError("from_id and chat_id must be integers")
            rec = self.msg_index.get((chat_id, mid))
            if rec is not None:
                msg = self._message_obj(rec)
            else:
                msg = {"message_id": mid, "chat": chat_object(chat_id),
                       "date": int(time.time()), "text": ""}
            qid = "%d%06d" % (random.randint(1000, 9999), self.next_cbq)
            self.next_cbq += 1
            q = {"id": qid, "from": self._user(spec), "message": msg,
                 "chat_instance": str(abs(chat_id) * 7 + 13), "data": data}
            uid = self.next_update_id
            self.next_update_id += 1
            self.callbacks_issued[qid] = q
            self.pending.append({"update_id": uid, "callback_query": q})
            self.stats["updates_injected"] += 1
            self.cond.notify_all()
            return {"update_id": uid, "callback_query_id": qid}

    # ---------------------------------------------------------- printing
    def _print(self, rec, edited):
        out = self.print_out
        if out is None:
            return
        head = "── chat %d · message %d" % (rec["chat_id"], rec["message_id"])
        if edited:
            head += " edited"
        else:
            if rec["thread_id"] is not None:
                head += " · topic %d" % rec["thread_id"]
            if rec["reply_to"] is not None:
                head += " · reply to %d" % rec["reply_to"]
            head += " · 🔕 silent" if rec["silent"] else " · 🔔"
        lines = [head, rec["text"]]
        mk = rec["reply_markup"]
        if mk and mk.get("inline_keyboard"):
            for row in mk["inline_keyboard"]:
                lines.append("  ".join("[ %s ]" % b.get("text") for b in row))
        try:
            out.write("\n".join(lines) + "\n\n")
            out.flush()
        except (OSError, ValueError):
            pass

    # ---------------------------------------------------------- control
    def control(self, verb, path, query, body):
        """Returns (status, json-able)."""
        q = dict(parse_qsl(query or "", keep_blank_values=True))
        data = {}
        if body:
            try:
                data = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return 400, {"ok": False, "error": "body must be JSON"}
        name = path[len("/_emu/"):].strip("/")
        try:
            return self._control(verb, name, q, data)
        except (ValueError, TypeError, KeyError) as e:
            return 400, {"ok": False, "error": str(e)}

    def _control(self, verb, name, q, data):
        if verb == "GET":
            if name in ("", "health"):
                return 200, {"ok": True, "token_set": bool(self.token)}
            if name == "messages":
                with self.cond:
                    msgs = self.messages
                    if q.get("chat_id"):
                        cid = int(q["chat_id"])
                        msgs = [m for m in msgs if m["chat_id"] == cid]
                    return 200, json.loads(json.dumps(msgs))
            if name == "requests":
                with self.cond:
                    reqs = list(self.requests)
                since = int(q.get("since") or 0)
                meth = (q.get("method") or "").lower()
                res = []
                for seq, m, cid, t, st, oc, extra in reqs:
                    if seq <= since or (meth and m.lower() != meth):
                        continue
                    e = {"seq": seq, "method": m, "chat_id": cid,
                         "time_ms": t, "status": st, "outcome": oc}
                    if extra:
                        e.update(extra)
                    res.append(e)
                return 200, res
            if name == "stats":
                with self.cond:
                    return 200, json.loads(json.dumps(self.stats))
            if name == "config":
                with self.cond:
                    return 200, dict(self.cfg)
            if name in ("fault", "faults"):
                return 200, self.list_faults()
            if name == "callbacks":
                with self.cond:
                    return 200, list(self.callbacks_answered)
            if name == "commands":
                with self.cond:
                    return 200, [dict(v) for v in self.commands.values()]
            if name == "updates_state":
                with self.cond:
                    return 200, {"pending": [u["update_id"]
                                             for u in self.pending],
                                 "confirmed_offset": self.confirmed_offset,
                                 "last_offset": self.last_offset,
                                 "allowed_updates": self.allowed_updates,
                                 "allowed_updates_history":
                                     list(self.allowed_updates_history),
                                 "polls_waiting": self.polls_waiting}
            if name == "state":
                with self.cond:
                    return 200, {"config": dict(self.cfg),
                                 "behaviours": {str(k): v for k, v in
                                                self.behaviours.items()},
                                 "delete_webhook_calls":
                                     list(self.delete_webhook_calls),
                                 "blocked_until_s": {
                                     str(k): round(v - time.monotonic(), 3)
                                     for k, v in self.blocked_until.items()
                                     if v > time.monotonic()}}
        elif verb == "POST":
            if name == "config":
                if not isinstance(data, dict):
                    raise ValueError("config must be an object")
                with self.cond:
                    for k, v in data.items():
                        if k not in DEFAULT_CONFIG:
                            raise ValueError("unknown config key %r" % k)
                        if isinstance(DEFAULT_CONFIG[k], bool):
                            if not isinstance(v, bool):
                                raise ValueError("%s must be a boolean" % k)
                        elif not isinstance(v, (int, float)) or \
                                isinstance(v, bool) or v < 0:
                            raise ValueError("%s must be a number >= 0" % k)
                    self.cfg.update(data)
                    self.cond.notify_all()
                    return 200, {"ok": True, "config": dict(self.cfg)}
            if name == "chat":
                cid = data.get("chat_id")
                beh = data.get("behaviour", data.get("behavior", "normal"))
                if not isinstance(cid, int) or isinstance(cid, bool):
                    raise ValueError("chat_id must be an integer")
                if beh not in BEHAVIOURS:
                    raise ValueError("behaviour must be one of %s"
                                     % ", ".join(BEHAVIOURS))
                mt = data.get("migrate_to")
                if beh == "migrate" and (not isinstance(mt, int) or mt == cid):
                    raise ValueError("migrate needs an integer migrate_to")
                with self.cond:
                    if beh == "normal":
                        self.behaviours.pop(cid, None)
                    else:
                        self.behaviours[cid] = {"behaviour": beh,
                                                "migrate_to": mt}
                    if data.get("clear_block"):
                        self.blocked_until.pop(cid, None)
                return 200, {"ok": True}
            if name == "unblock":
                with self.cond:
                    if "chat_id" in data:
                        self.blocked_until.pop(data["chat_id"], None)
                    else:
                        self.blocked_until.clear()
                return 200, {"ok": True}
            if name == "fault":
                specs = data if isinstance(data, list) else [data]
                for s in specs:
                    self.add_fault(s)
                return 200, {"ok": True, "faults": self.list_faults()}
            if name == "update":
                return 200, self.inject_update(data)
            if name == "callback":
                return 200, self.inject_callback(data)
            if name == "reset":
                self.reset()
                return 200, {"ok": True}
        elif verb == "DELETE":
            if name in ("fault", "faults"):
                with self.cond:
                    self.faults = []
                return 200, {"ok": True}
        return 404, {"ok": False, "error": "unknown control endpoint %s %s"
                     % (verb, name)}


# --------------------------------------------------------------- HTTP layer

class BodyError(Exception):
    pass


BOT_PATH_RE = re.compile(r"/bot([^/]*)/([A-Za-z0-9_]*)/?")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tgemu/1.0"
    sys_version = ""
    timeout = 300  # idle keep-alive connections

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        try:  # no Nagle/delayed-ACK stalls on keep-alive connections
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                       1)
        except OSError:
            pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    # -- I/O helpers
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise BodyError("truncated chunked body")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BodyError("bad chunk size")
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise BodyError("body too large")
                data = self.rfile.read(size)
                if len(data) != size:
                    raise BodyError("truncated chunk")
                chunks.append(data)
                self.rfile.readline(8)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            raise BodyError("bad Content-Length")
        if n < 0 or n > MAX_BODY:
            raise BodyError("bad Content-Length")
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise BodyError("truncated body")
        return data

    def _send(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # headers and body in one write
        if not hasattr(self, "_headers_buffer"):   # HTTP/0.9: no headers
            self._headers_buffer = []
        elif self.request_version != "HTTP/0.9":
            self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def _send_json(self, status, obj):
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"))

    def _reset_connection(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            fd = self.connection.detach()
            os.close(fd)
        except OSError:
            pass

    # -- dispatch
    def _dispatch(self, verb):
        emu = self.server.emu
        try:
            url = urlsplit(self.path)
            try:
                body = self._read_body()
            except BodyError as e:
                self.close_connection = True
                self._send_json(400, {"ok": False, "error_code": 400,
                                      "description": "Bad Request: %s" % e})
                return
            if url.path == "/_emu" or url.path.startswith("/_emu/"):
                status, obj = emu.control(verb, url.path.rstrip("/") + "/",
                                          url.query, body)
                self._send_json(status, obj)
                return
            m = BOT_PATH_RE.fullmatch(url.path)
            if not m:
                self._send_json(404, {"ok": False, "error_code": 404,
                                      "description": "Not Found"})
                return
            self._bot(emu, m.group(1), m.group(2), url.query, body)
        except (ConnectionError, socket.timeout, BrokenPipeError):
            self.close_connection = True
        except Exception:
            self.close_connection = True
            with emu.cond:
                emu.stats["emulator_errors"] += 1
            sys.stderr.write("tgemu: internal error:\n%s"
                             % redact(traceback.format_exc()))
            try:
                self._send_json(500, {"ok": False, "error_code": 500,
                                      "description": "Internal Server Error: "
                                      "emulator bug"})
            except OSError:
                pass

    def _bot(self, emu, token, method, query, body):
        mname = method or "?"
        fault = emu.take_fault(mname, lambda: self._peek_params(query, body))
        lost = fault is not None and fault["kind"] == "lost_answer"
        if fault and not lost:
            self._apply_fault(emu, fault, mname, query, body)
            return
        if token != emu.token:
            emu.log_request(mname, None, 401, "Unauthorized")
            self._send_json(401, {"ok": False, "error_code": 401,
                                  "description": "Unauthorized"})
            return
        chat_id = None
        try:
            params = parse_params(query, body,
                                  self.headers.get("Content-Type"))
            try:
                chat_id = p_int(params, "chat_id")
            except ApiError:
                chat_id = params.get("chat_id")
            result = emu.call(mname, params)
            status, obj, outcome = 200, {"ok": True, "result": result}, "ok"
        except ApiError as e:
            status, obj, outcome = e.code, e.body(), e.description
            if getattr(e, "html_error", False):
                with emu.cond:
                    emu.stats["html_errors"] += 1
        extra = None
        if status == 429:
            extra = {"retry_after": obj["parameters"]["retry_after"]}
        if lost:
            # Done, but the answer never reaches the client (a reset after
            # Telegram accepted): the bot cannot know it was delivered.
            emu.log_request(mname, chat_id, status, "fault:lost_answer")
            self._reset_connection()
            return
        emu.log_request(mname, chat_id, status, outcome, extra)
        self._send_json(status, obj)

    def _peek_params(self, query, body):
        try:
            return parse_params(query, body, self.headers.get("Content-Type"))
        except Exception:
            return None

    def _apply_fault(self, emu, f, method, query, body):
        kind = f["kind"]
        chat_id = None
        try:
            chat_id = p_int(parse_params(query, body,
                                         self.headers.get("Content-Type")),
                            "chat_id")
        except (ApiError, Exception):
            pass
        status = {"5xx": f["status"], "html502": 502, "garbage": 200,
                  "empty": 200, "429": 429,
                  "parse_entities": 400}.get(kind, 0)
        emu.log_request(method, chat_id, status, "fault:" + kind)
        if kind == "5xx":
            self._send_json(f["status"], {
                "ok": False, "error_code": f["status"],
                "description": {500: "Internal Server Error",
                                502: "Bad Gateway",
                                503: "Service Unavailable",
                                504: "Gateway Timeout"}.get(
                                    f["status"], "Internal Server Error")})
        elif kind == "429":
            n = f["retry_after"]
            if chat_id is not None:
                with emu.cond:
                    emu.blocked_until[chat_id] = time.monotonic() + n
            self._send_json(429, {"ok": False, "error_code": 429,
                                  "description": "Too Many Requests: retry "
                                  "after %d" % n,
                                  "parameters": {"retry_after": n}})
        elif kind == "parse_entities":
            self._send_json(400, {"ok": False, "error_code": 400,
                                  "description": E_ENTITIES})
        elif kind == "html502":
            self._send(502, NGINX_502, "text/html")
        elif kind == "garbage":
            self._send(200, b"\x00\xff<garbage>" + os.urandom(24),
                       "application/json")
        elif kind == "empty":
            self._send(200, b"", "application/json")
        elif kind == "timeout":
            emu.stop_event.wait(f["hold"])
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:  # reset, down
            self._reset_connection()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port, emu):
        self.emu = emu
        super().__init__((HOST, port), Handler)

    def handle_error(self, request, client_address):
        # A client that vanished mid-request is not our problem.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, OSError)):
            return
        sys.stderr.write("tgemu: %s\n" % redact(traceback.format_exc()))


class EmulatorServer:
    """In-process handle: EmulatorServer(token).start(); .port; .stop()."""

    def __init__(self, token="123456:TESTTOKEN", port=0, print_out=None,
                 log_file=None):
        self.emu = Emulator(token, print_out=print_out, log_file=log_file)
        self.server = Server(port, self.emu)
        self.port = self.server.server_address[1]
        self.base_url = "http://%s:%d" % (HOST, self.port)
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       name="tgemu", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.emu.shutdown()
        self.server.shutdown()
        self.server.server_close()
        if self.thread:
            self.thread.join(5)


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Telegram Bot API emulator "
                                 "(listens on 127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0,
                    help="TCP port on 127.0.0.1; 0 picks a free one")
    ap.add_argument("--token", default="123456:TESTTOKEN",
                    help="the bot token the emulator accepts")
    ap.add_argument("--port-file", help="write the port number here")
    ap.add_argument("--print", action="store_true", dest="print_",
                    help="print what the chats receive to stdout")
    ap.add_argument("--log", help="append one line per Bot API request")
    a = ap.parse_args(argv)

    if a.print_:
        try:
            sys.stdout.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass
    log = open(a.log, "a", encoding="utf-8") if a.log else None
    try:
        srv = EmulatorServer(a.token, a.port,
                             print_out=sys.stdout if a.print_ else None,
                             log_file=log)
    except OSError as e:
        sys.stderr.write("tgemu: cannot listen on %s:%d: %s\n"
                         % (HOST, a.port, e))
        return 1
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    srv.start()
    if a.port_file:
        write_port_file(a.port_file, srv.port)
    sys.stderr.write("tgemu listening on %s:%d\n" % (HOST, srv.port))
    sys.stderr.flush()
    while not stop.wait(0.5):
        pass
    srv.stop()
    if a.port_file:
        try:
            os.unlink(a.port_file)
        except OSError:
            pass
    if log:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
