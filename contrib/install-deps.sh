#!/bin/sh
# install-deps.sh - installs opsbot's missing build dependencies from Debian,
# and the Alertmanager and Prometheus binaries its integration tests run.
# Called by the Makefile when pkg-config cannot find one, and before the
# integration tests when a binary is missing; safe to run by hand.
# Uses apt-get as root, or sudo when available; otherwise names what to install.
set -u
pkgs=""
need() { pkg-config --exists "$1" 2>/dev/null || pkgs="$pkgs $2"; }
command -v pkg-config >/dev/null 2>&1 || pkgs="$pkgs pkg-config"
if command -v pkg-config >/dev/null 2>&1; then
	need libcurl libcurl4-openssl-dev
	need libcjson libcjson-dev
	need libconfig libconfig-dev
	need sqlite3 libsqlite3-dev
	need cmocka libcmocka-dev
	need libsystemd libsystemd-dev
	need libmicrohttpd libmicrohttpd-dev
else
	pkgs="$pkgs libcurl4-openssl-dev libcjson-dev libconfig-dev libsqlite3-dev libcmocka-dev libsystemd-dev libmicrohttpd-dev"
fi
command -v python3 >/dev/null 2>&1 || pkgs="$pkgs python3"
command -v cc >/dev/null 2>&1 || pkgs="$pkgs gcc"
command -v promtool >/dev/null 2>&1 || pkgs="$pkgs prometheus" # tests
# The integration tests run the real Alertmanager (and Prometheus, above).
[ -x /usr/bin/prometheus-alertmanager ] || pkgs="$pkgs prometheus-alertmanager"
[ -z "$pkgs" ] && exit 0

if [ "$(id -u)" = 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO="sudo -n"
else
	echo "opsbot: missing build dependencies:$pkgs" >&2
	echo "opsbot: install them with: sudo apt-get install$pkgs" >&2
	exit 1
fi
echo "opsbot: installing build dependencies:$pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $pkgs >&2 ||
	{ $SUDO apt-get update -q >&2 &&
	  $SUDO apt-get install -y -q --no-install-recommends $pkgs >&2; } || {
	echo "opsbot: could not install:$pkgs" >&2
	exit 1
}
