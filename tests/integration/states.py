"""Delivery states and flags as stored in the deliveries table: the values
of enum delivery_state and the DF_* flags in alerts/store.h (store.c pins
its SQL to the same numbers with _Static_assert)."""

DS_PENDING = 0     # not tried yet
DS_SENDING = 1     # request in flight
DS_SENT = 2        # Telegram accepted it
DS_RETRYING = 3    # transient failure, due again at due_at
DS_FAILED = 4      # permanent failure or too old
DS_MUTED = 5       # held by a mute
DS_SUPPRESSED = 6  # repeat of a firing key within repeat_window

# States that still owe a send.
OPEN_STATES = (DS_PENDING, DS_SENDING, DS_RETRYING)

DF_PLAIN = 0x1      # sent as plain text after Telegram refused the HTML
DF_NO_THREAD = 0x2  # the forum topic is gone; sent without it
DF_PACKED = 0x4     # delivered inside a packed message
DF_EDITED = 0x8     # the original message was edited to resolved
