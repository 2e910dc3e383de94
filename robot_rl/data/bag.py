"""Record raw ROS2 messages into a rosbag2 (MCAP storage by default), with ``rosbags``.

Messages are serialized to CDR by the ROS2 Jazzy type store of ``rosbags``, the same source our message
classes are generated from (:mod:`robot_rl.runtime.msg`), so a bag written here plays back with
``ros2 bag play`` and reads with ``rosbags.rosbag2.Reader``. Each message is stamped with the time it was
received (the recording node's clock, so sim time under ``use_sim_time``), as ``ros2 bag record`` does.

The bag is complete only after :meth:`BagRecorder.close`: rosbag2 writes the MCAP summary and
``metadata.yaml`` at the end. A killed process leaves an MCAP without them (the messages already written
stay in the file; ``ros2 bag reindex`` or ``mcap recover`` can rebuild it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rosbags.interfaces import Connection

from robot_rl.errors import DatasetError

STORAGE_PLUGINS = ("mcap", "sqlite3")
BAG_VERSION = 8  # rosbag2 metadata version; ROS2 Jazzy reads 8 and 9


class BagRecorder:
    """Write messages of named topics to a new rosbag2 directory."""

    def __init__(self, path: Path, storage: str = "mcap") -> None:
        """Create the bag directory ``path`` (it must not exist) with ``storage`` (``mcap`` or ``sqlite3``).

        Raises:
            DatasetError: If ``path`` exists or ``storage`` is unknown.
        """
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.rosbag2.errors import WriterError

        if storage not in STORAGE_PLUGINS:
            raise DatasetError(f"bag storage must be one of {', '.join(STORAGE_PLUGINS)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise DatasetError(f"bag directory {self.path} already exists")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugin)
        try:
            self._writer.open()
        except WriterError as error:
            raise DatasetError(f"cannot create bag {self.path}: {error}") from None
        self._typestore = _typestore()
        self._connections: dict[str, tuple[Connection, str]] = {}
        self.counts: dict[str, int] = {}  # messages written per topic
        self.closed = False

    def add_topic(self, topic: str, type_name: str) -> None:
        """Declare a topic and its ROS2 type (``pkg/msg/Name``) before writing to it."""
        if topic in self._connections:
            raise DatasetError(f"bag topic {topic} is already declared")
        connection = self._writer.add_connection(topic, type_name, typestore=self._typestore)
        self._connections[topic] = (connection, type_name)
        self.counts[topic] = 0

    def write(self, topic: str, message: Any, timestamp_ns: int) -> None:
        """Serialize ``message`` (CDR) and write it on ``topic`` at ``timestamp_ns`` (receive time, ns)."""
        if self.closed:
            return
        connection, type_name = self._connections[topic]
        self._writer.write(connection, int(timestamp_ns), self._typestore.serialize_cdr(message, type_name))
        self.counts[topic] += 1

    def close(self) -> None:
        """Write the bag's index and metadata.yaml (idempotent)."""
        if not self.closed:
            self.closed = True
            self._writer.close()


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)
