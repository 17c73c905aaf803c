"""The embedded broker: kombu's filesystem transport, made safe for several processes.

kombu's own transport writes a message file in place (a worker polling the folder can read it
half-written) and parses it after removing it, so a torn file both loses the message and stops
the worker with a JSONDecodeError. Here a producer writes to a `.part` name and renames the
file into the queue once complete, and a worker claims a file only after parsing it: a file it
cannot parse is left alone for a grace period (another producer may still be writing it), then
moved to a quarantine folder and logged. `filesystem://` URLs resolve to this transport once
`register_transport()` has run (config/celery.py calls it).

kombu also keeps each exchange's bindings in one control file that it creates with a truncating
open before taking its lock: two processes declaring queues at once (a worker and a web process
starting together) read it empty (JSONDecodeError), lose a binding or leave it corrupt. Here a
binding change holds a lock file of its own and replaces the table whole, so a reader needs no
lock and never sees a half-written table; and a queue bound by two threads of one process is in
the file before either publishes to it.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from queue import Empty

from kombu import transport as kombu_transport
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport.filesystem import LOCK_EX, exchange_queue_t, lock
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

TRANSPORT_PATH = "apps.core.broker:Transport"
# A file still unreadable after this long is not being written any more: set it aside.
DEFAULT_UNREADABLE_GRACE_S = 60.0
PARTIAL_SUFFIX = ".part"  # "<name>.msg.part" never matches a queue's "*.<queue>.msg"


class Channel(filesystem.Channel):
    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            table = loads(file.read_bytes().decode())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ChannelError(f"Cannot read the bindings in {str(file)!r}") from exc
        return [exchange_queue_t(*binding) for binding in table]

    def queue_bind(self, queue, exchange=None, routing_key="", arguments=None, **kwargs):
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)
        # kombu records bindings in state shared by every connection of the process and returns
        # early when one is there: a thread could then publish before the thread that recorded it
        # has written the control file, and the message would be routed nowhere and dropped.
        # Binding again is one locked read when the file already has it.
        exchange = exchange or "amq.direct"
        self._queue_bind(exchange, *self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments))

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        binding = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: table if binding in table else [binding, *table])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # The virtual transport's own bookkeeping; kombu's filesystem override would then
        # rewrite the table in place, so it is skipped.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        binding = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: [b for b in table if b != binding])

    def _change_table(self, exchange, change) -> None:
        """Read, change and replace an exchange's bindings while holding its lock file."""
        file = self._exchange_file(exchange)
        try:
            self.control_folder.mkdir(parents=True, exist_ok=True)
            with open(file.with_name(file.name + ".lock"), "ab") as guard:
                lock(guard, LOCK_EX)  # released when the file is closed
                before = self.get_table(exchange)
                after = change(before)
                if after == before:
                    return
                partial = file.with_name(f"{file.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
                try:
                    partial.write_bytes(dumps(after).encode())
                    os.replace(partial, file)  # atomic within one folder
                finally:
                    partial.unlink(missing_ok=True)
        except OSError as exc:
            raise ChannelError(f"Cannot change the bindings in {str(file)!r}") from exc

    def _put(self, queue, payload, **kwargs):
        """Write the message under a temporary name, then rename it into the queue whole."""
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = Path(self.data_folder_out) / name
        partial = final.with_name(name + PARTIAL_SUFFIX)
        try:
            with open(partial, "xb") as f:
                f.write(dumps(payload).encode())
            os.rename(partial, final)  # atomic within one folder
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ChannelError(f"Cannot add file {str(final)!r} to directory") from exc

    def _get(self, queue):
        """Parse the oldest message file of `queue`, then claim it (the first to remove it wins)."""
        wanted = f"{queue}.msg"
        folder = Path(self.data_folder_in)
        for name in sorted(os.listdir(folder)):
            if name.partition(".")[2] != wanted:
                continue
            path = folder / name
            try:
                payload = loads(path.read_bytes().decode())
                if not isinstance(payload, dict):
                    raise TypeError(f"a message is a JSON object, not {type(payload).__name__}")
            except FileNotFoundError:
                continue  # another worker claimed it meanwhile
            except (OSError, ValueError, TypeError) as exc:  # ValueError: JSONDecodeError, UnicodeDecodeError
                self._set_aside_if_abandoned(path, exc)
                continue
            try:
                if self.store_processed:
                    os.rename(path, Path(self.processed_folder) / name)
                else:
                    os.unlink(path)
            except FileNotFoundError:
                continue  # claimed by another worker between our read and our claim
            return payload
        raise Empty()

    def _set_aside_if_abandoned(self, path: Path, error: Exception) -> None:
        try:
            age_s = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return
        if age_s < self.unreadable_grace_s:
            log.debug("message file %s not readable yet (%s); retrying", path.name, error)
            return
        self.quarantine_folder.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, self.quarantine_folder / path.name)
        except FileNotFoundError:
            return
        log.error("message file %s could not be read for %.0f s (%s: %s); moved to %s",
                  path.name, age_s, type(error).__name__, error, self.quarantine_folder)

    @property
    def unreadable_grace_s(self) -> float:
        return float(self.transport_options.get("unreadable_grace_s", DEFAULT_UNREADABLE_GRACE_S))

    @property
    def quarantine_folder(self) -> Path:
        return Path(self.transport_options.get(
            "quarantine_folder", Path(self.data_folder_in) / "quarantine"
        ))


class Transport(filesystem.Transport):
    Channel = Channel
    driver_name = "filesystem (atomic writes, torn files set aside)"


def register_transport() -> None:
    """Make `filesystem://` broker URLs use this transport in this process."""
    kombu_transport.TRANSPORT_ALIASES["filesystem"] = TRANSPORT_PATH
    # A class resolved before this call stays cached under the alias: forget it.
    getattr(kombu_transport, "_transport_cache", {}).pop("filesystem", None)
