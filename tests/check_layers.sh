#!/bin/sh
# check_layers.sh - the include graph has layers you can see: leaf modules
# (they know their own job and nothing of the daemon) never include glue
# (the loop, the daemon, the modules that own the daemon's state, the
# transports, the commands). Run by `make test`; exits 1 on a violation.
set -u
cd "$(dirname "$0")/.."

# Leaves: everything in alerts/, and these in bot/.
leaves="alerts/*.c alerts/*.h"
for m in util log utf8 url proxy ratelimit backoff breaker rng pacing \
	 tgapi telegram xfer stats metrics config tz; do
	for f in bot/$m.c bot/$m.h; do [ -f "$f" ] && leaves="$leaves $f"; done
done
# Glue: what a leaf must not include.
glue='(bot/)?(daemon|loop|dispatch|outbox|intake|sockin|httpin|api|chats|mutes|relay|amclient)\.h|commands/'

bad=0
for f in $leaves; do
	[ -f "$f" ] || continue
	hits=$(grep -nE "^#include \"($glue)" "$f")
	if [ -n "$hits" ]; then
		echo "$f includes glue:"; echo "$hits"; bad=1
	fi
done
# One include style: project headers by their path from the top.
hits=$(grep -nE '^#include "[a-z_0-9]+\.h"' bot/*.[ch] alerts/*.[ch] commands/*.[ch])
if [ -n "$hits" ]; then
	echo "includes not written from the top (use \"bot/x.h\"):"; echo "$hits"; bad=1
fi
[ $bad -eq 0 ] && echo "layers: leaves include no glue; one include style"
exit $bad
