# install.mk - `make install` and `make uninstall` (included by the Makefile).
#
#   make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]
#
# Installs the binary, the man page, the systemd unit (its paths rewritten
# to PREFIX), the sysusers.d entry and /etc/opsbot/bot.conf.example. It never
# creates or overwrites /etc/opsbot/bot.conf. Run as root without DESTDIR, it
# also creates the opsbot user (systemd-sysusers) and reloads systemd.
# Packagers: set DESTDIR; nothing outside it is touched then.

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR      ?= $(PREFIX)/share/doc/opsbot
INSTALL     ?= install

# Paths as written in contrib/opsbot.service, rewritten at install time.
INSTALL_SED := -e 's|/usr/local/bin/opsbot|$(BINDIR)/opsbot|g' \
               -e 's|/etc/opsbot/|$(SYSCONFDIR)/opsbot/|g'

.PHONY: install uninstall
install: $(BUILD)/opsbot
	$(INSTALL) -D -m 0755 $(BUILD)/opsbot $(DESTDIR)$(BINDIR)/opsbot
	$(INSTALL) -D -m 0644 docs/opsbot.8 $(DESTDIR)$(MANDIR)/man8/opsbot.8
	sed $(INSTALL_SED) contrib/opsbot.service > $(BUILD)/opsbot.service
	$(INSTALL) -D -m 0644 $(BUILD)/opsbot.service $(DESTDIR)$(UNITDIR)/opsbot.service
	$(INSTALL) -D -m 0644 contrib/opsbot.sysusers $(DESTDIR)$(SYSUSERSDIR)/opsbot.conf
	$(INSTALL) -D -m 0644 bot.conf.example $(DESTDIR)$(SYSCONFDIR)/opsbot/bot.conf.example
	$(INSTALL) -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@if [ -f docs/OPERATIONS.md ]; then \
		echo "$(INSTALL) -D -m 0644 docs/OPERATIONS.md $(DESTDIR)$(DOCDIR)/OPERATIONS.md"; \
		$(INSTALL) -D -m 0644 docs/OPERATIONS.md $(DESTDIR)$(DOCDIR)/OPERATIONS.md; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		if command -v systemd-sysusers >/dev/null 2>&1; then \
			echo "systemd-sysusers $(SYSUSERSDIR)/opsbot.conf"; \
			systemd-sysusers $(SYSUSERSDIR)/opsbot.conf; \
		fi; \
		if [ -d /run/systemd/system ]; then \
			echo "systemctl daemon-reload"; \
			systemctl daemon-reload; \
		fi; \
	fi
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/opsbot/bot.conf ]; then \
		echo "opsbot: next: cp $(SYSCONFDIR)/opsbot/bot.conf.example $(SYSCONFDIR)/opsbot/bot.conf," \
			"set the token and chats, run '$(BINDIR)/opsbot -c $(SYSCONFDIR)/opsbot/bot.conf check-config'," \
			"then 'systemctl enable --now opsbot'"; \
	fi

# Leaves $(SYSCONFDIR)/opsbot/bot.conf, the token, the store in
# /var/lib/opsbot and the opsbot user alone: they are the operator's data.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/opsbot
	rm -f $(DESTDIR)$(MANDIR)/man8/opsbot.8
	rm -f $(DESTDIR)$(UNITDIR)/opsbot.service
	rm -f $(DESTDIR)$(SYSUSERSDIR)/opsbot.conf
	rm -f $(DESTDIR)$(SYSCONFDIR)/opsbot/bot.conf.example
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/OPERATIONS.md
	@rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@rmdir $(DESTDIR)$(SYSCONFDIR)/opsbot 2>/dev/null || true
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && [ "$$(id -u)" = 0 ]; then \
		echo "systemctl daemon-reload"; systemctl daemon-reload; \
	fi
