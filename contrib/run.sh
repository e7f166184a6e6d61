#!/bin/sh
# run.sh - `make run`. With ./bot.conf: runs the daemon on it. Without one:
# a demo that needs no Telegram account: starts the tests' Bot API emulator
# on loopback, points opsbot at it, sends one sample alert per severity (and
# one over the HTTP intake, which listens on a free loopback port) and
# prints what the chat receives. With OPSBOT_TOKEN and OPSBOT_CHAT set (and
# no bot.conf), it talks to the real Telegram instead.
set -eu
OPSBOT=${1:-build/opsbot}
PYTHON=${PYTHON:-python3}

if [ -f bot.conf ]; then
	echo "opsbot: using ./bot.conf" >&2
	exec "$OPSBOT" -c bot.conf run
fi

dir=build/run
mkdir -p "$dir"
rm -f "$dir/alerts.sock" "$dir/emu.port"

if [ -n "${OPSBOT_TOKEN:-}" ] && [ -n "${OPSBOT_CHAT:-}" ]; then
	api="https://api.telegram.org"
	chat=$OPSBOT_CHAT
	admins=${OPSBOT_ADMIN:-}
	echo "opsbot: no bot.conf; OPSBOT_TOKEN and OPSBOT_CHAT are set: talking to the real Telegram, chat $chat" >&2
	emu_pid=""
else
	"$PYTHON" tests/emulator/tgemu.py --port 0 --port-file "$dir/emu.port" \
		--token 123456:DEMO-not-a-real-token --print &
	emu_pid=$!
	i=0
	while [ ! -s "$dir/emu.port" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "opsbot: the emulator did not start" >&2; exit 1; }
		sleep 0.1
	done
	api="http://127.0.0.1:$(cat "$dir/emu.port")"
	chat=-1001000000001
	admins=1
	export OPSBOT_TOKEN=123456:DEMO-not-a-real-token
	echo "opsbot: no bot.conf here, so this is the demo: a local Telegram emulator at $api" >&2
	echo "opsbot: (copy bot.conf.example to bot.conf to run for real)" >&2
fi

# The HTTP intake on a free loopback port (no token needed on loopback).
http_port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
http_url="http://127.0.0.1:$http_port"

cat > "$dir/bot.conf" <<CONF
# written by make run (contrib/run.sh); copy bot.conf.example for real use
telegram = {
  api_url = "$api";
  chats = [ ${chat}L ];
  admins = [ ${admins:-} ];
};
socket = { path = "$dir/alerts.sock"; };
store = { path = "$dir/opsbot.db"; };
http = { listen = "127.0.0.1:$http_port"; };
CONF

cleanup() {
	[ -n "${bot_pid:-}" ] && kill "$bot_pid" 2>/dev/null
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 0' INT TERM # Ctrl-C is how the demo ends: not an error

"$OPSBOT" -c "$dir/bot.conf" run &
bot_pid=$!
i=0
while [ ! -S "$dir/alerts.sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "opsbot: the daemon did not start" >&2; exit 1; }
	sleep 0.1
done

if [ -n "$emu_pid" ]; then
	c="$dir/bot.conf"
	"$OPSBOT" -c "$c" send -s critical -S db1 -t "Replication lag" -k db1/repl-lag \
		--label env=prod "lag 120 s > 30 s" >/dev/null
	"$OPSBOT" -c "$c" send -s error -S web2 -t "HTTP 5xx rate" "5.2% of requests failed in the last 5 min" >/dev/null
	"$OPSBOT" -c "$c" send -s warning -S disk -t "Disk 85% full" "/var on backup1" >/dev/null
	"$OPSBOT" -c "$c" send -s info -S deploy -t "Deploy finished" "api v2.3.1 rolled out" >/dev/null
	"$OPSBOT" -c "$c" send -s debug -S cron "nightly job took 41 s" >/dev/null
	"$OPSBOT" -c "$c" send -s critical -S db1 -k db1/repl-lag --resolved "lag back to 2 s" >/dev/null
	# One more over HTTP, as a script or Alertmanager would send it.
	alert='{"severity":"warning","source":"http-demo","title":"Posted over HTTP","text":"POST /api/v1/alerts"}'
	if command -v curl >/dev/null 2>&1; then
		curl -sS --retry 5 --retry-connrefused --retry-delay 1 \
			-H 'Content-Type: application/json' -d "$alert" \
			"$http_url/api/v1/alerts" >/dev/null
	else
		"$PYTHON" -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode(), {"Content-Type": "application/json"}), timeout=10).read()' \
			"$http_url/api/v1/alerts" "$alert"
	fi
	echo "opsbot: sent 6 sample alerts on the socket and 1 over HTTP; try:" >&2
	echo "  $OPSBOT -c $c send -s error 'my first alert'" >&2
	echo "  curl -d '{\"severity\":\"error\",\"text\":\"my first HTTP alert\"}' $http_url/api/v1/alerts" >&2
	echo "  curl $http_url/metrics" >&2
	echo "opsbot: Ctrl-C stops the demo" >&2
fi
wait "$bot_pid"
