"""Behaviour models, one module per device family. Each model turns a `DeviceContext` into the device's
messages in time order, as `(true time, channel, body)` with the body in protocol field order (no ts/seq)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from devices.model import DeviceClass
from simulator.models.access import access_control
from simulator.models.base import DeviceContext, Out
from simulator.models.camera import ai_camera
from simulator.models.outdoor import ebike_charger, gas_detector, manhole_cover, trash_bin
from simulator.models.smoke import smoke_detector
from simulator.models.water import water_meter

Model = Callable[[DeviceContext], Iterator[Out]]

MODELS: dict[DeviceClass, Model] = {
    DeviceClass.WATER_METER: water_meter,
    DeviceClass.SMOKE_DETECTOR: smoke_detector,
    DeviceClass.ACCESS_CONTROL: access_control,
    DeviceClass.AI_CAMERA: ai_camera,
    DeviceClass.MANHOLE_COVER: manhole_cover,
    DeviceClass.TRASH_BIN: trash_bin,
    DeviceClass.GAS_DETECTOR: gas_detector,
    DeviceClass.EBIKE_CHARGER: ebike_charger,
}

__all__ = ["MODELS", "DeviceContext", "Model", "Out"]
