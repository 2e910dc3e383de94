"""Slots <-> PointCloud2 round trip with named fields."""

import numpy as np
import pytest

from robot_rl.errors import MessageError, PerceptionError
from robot_rl.perception.slot_msgs import pointcloud2_to_slots, slot_dtype, slots_to_pointcloud2
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.runtime import msg
from robot_rl.runtime.msg_numpy import numpy_to_pointcloud2


def test_round_trip_with_embedding() -> None:
    slots = np.random.default_rng(0).normal(size=(5, len(SLOT_FIELDS) + 3)).astype(np.float32)
    cloud = slots_to_pointcloud2(slots, msg.Header(frame_id="base_link"))
    assert cloud.width == 5
    assert [f.name for f in cloud.fields][:4] == ["slot_id", "presence", "x", "y"]
    assert [f.name for f in cloud.fields][-3:] == ["emb_0", "emb_1", "emb_2"]
    np.testing.assert_array_equal(pointcloud2_to_slots(cloud), slots)


def test_not_a_slot_message() -> None:
    points = np.zeros(2, dtype=[("x", np.float32)])
    with pytest.raises(MessageError, match="missing fields slot_id"):
        pointcloud2_to_slots(numpy_to_pointcloud2(points))
    with pytest.raises(PerceptionError):
        slots_to_pointcloud2(np.zeros((2, 3), dtype=np.float32), msg.Header())


def test_malformed_slot_fields_are_message_errors() -> None:
    names = ["slot_id", *SLOT_FIELDS]
    several = np.dtype({"names": names, "formats": [np.uint32, (np.float32, 2)] + [np.float32] * (len(names) - 2)})
    with pytest.raises(MessageError, match="presence hold several values"):
        pointcloud2_to_slots(numpy_to_pointcloud2(np.zeros(2, dtype=several)))
    cloud = numpy_to_pointcloud2(np.zeros(2, dtype=slot_dtype(1)))
    cloud.fields[-1].name = "emb_x"  # not an embedding field: ignored, not a crash
    assert pointcloud2_to_slots(cloud).shape == (2, len(SLOT_FIELDS))
