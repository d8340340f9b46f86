"""Encode Python values into contract storage slots, driven by the compiler's ``storageLayout`` output.

Used to place contracts in a genesis ``alloc`` (no constructor runs there). Slots come from the layout solc writes
into each artifact, never from guesses; the rules are Solidity's documented storage layout:

- value types (``inplace``, at most 32 bytes) sit at ``slot`` and ``offset`` bytes from the right, packed;
- structs and static arrays (``inplace``, several slots) start at their slot, members/elements laid out inside;
- dynamic arrays (``dynamic_array``) keep the length at their slot, elements from ``keccak256(slot)`` on;
- ``bytes``/``string`` (``bytes``): up to 31 bytes inline with ``2*length`` in the lowest byte, otherwise
  ``2*length+1`` at the slot and the data from ``keccak256(slot)`` on;
- mappings: the value of key ``k`` sits at ``keccak256(pad32(k) . pad32(slot))`` (``k`` unpadded for bytes/string
  keys).

Values: ints for integers, ``str`` (0x hex) or ``bytes`` for addresses, ``bytes``/hex for ``bytesN``, ``bool``,
``str`` for ``string``, lists for arrays, ``dict`` member label -> value for structs and key -> value for
mappings. Every state variable of the layout must be given (an unexpected new variable must not silently start
at zero); zero values are not written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from eth_utils import keccak, to_bytes

_ARRAY_LENGTH = re.compile(r"\)(\d+)_storage$")


class StorageLayoutError(ValueError):
    """A value that does not fit the layout (wrong kind, missing variable, unknown label)."""


class StorageEncoder:
    """Encodes values for one contract's ``storageLayout`` (``{"storage": [...], "types": {...}}``)."""

    def __init__(self, layout: Mapping[str, Any], contract: str = "contract") -> None:
        self.variables = {entry["label"]: entry for entry in layout["storage"]}
        self.types: Mapping[str, Any] = layout.get("types") or {}
        self.contract = contract

    def encode(self, values: Mapping[str, Any]) -> dict[int, int]:
        """Slot -> 32-byte word (as int) for the state variables in ``values``; zero words are left out."""
        unknown = sorted(set(values) - set(self.variables))
        if unknown:
            raise StorageLayoutError(
                f"{self.contract} has no state variable {unknown[0]!r} (has {sorted(self.variables)})"
            )
        missing = sorted(set(self.variables) - set(values))
        if missing:
            raise StorageLayoutError(f"no value given for {self.contract}.{missing[0]}: give every state variable")
        slots: dict[int, int] = {}
        for label, entry in self.variables.items():
            self._put(slots, entry["type"], int(entry["slot"]), int(entry["offset"]), values[label], label)
        return {slot: word for slot, word in sorted(slots.items()) if word}

    # ---- layout walking -----------------------------------------------------------------------------------

    def _put(self, slots: dict[int, int], type_id: str, slot: int, offset: int, value: Any, where: str) -> None:
        info = self.types[type_id]
        encoding = info["encoding"]
        size = int(info["numberOfBytes"])
        if encoding == "inplace" and "members" in info:
            self._put_struct(slots, info, slot, value, where)
        elif encoding == "inplace" and "base" in info:
            length = int(_ARRAY_LENGTH.search(type_id).group(1))  # type: ignore[union-attr]
            if len(value) > length:
                raise StorageLayoutError(f"{where}: {len(value)} elements for an array of {length}")
            self._put_elements(slots, info["base"], slot, value, where)
        elif encoding == "inplace":
            word = _value_word(type_id, info["label"], size, value, where)
            slots[slot] = slots.get(slot, 0) | (word << (8 * offset))
        elif encoding == "bytes":
            self._put_bytes(slots, slot, value, where)
        elif encoding == "dynamic_array":
            slots[slot] = len(value)
            self._put_elements(slots, info["base"], _hash_slot(slot), value, where)
        elif encoding == "mapping":
            if not isinstance(value, Mapping):
                raise StorageLayoutError(f"{where}: a mapping needs a dict, got {type(value).__name__}")
            key_type = info["key"]
            for key, item in value.items():
                key_bytes = _mapping_key(key_type, self.types[key_type], key, where)
                item_slot = int.from_bytes(keccak(key_bytes + slot.to_bytes(32, "big")), "big")
                self._put(slots, info["value"], item_slot, 0, item, f"{where}[{key!r}]")
        else:
            raise StorageLayoutError(f"{where}: storage encoding {encoding!r} is not supported")

    def _put_struct(self, slots: dict[int, int], info: Mapping[str, Any], slot: int, value: Any, where: str) -> None:
        if not isinstance(value, Mapping):
            raise StorageLayoutError(f"{where}: a struct needs a dict of its members, got {type(value).__name__}")
        members = {member["label"]: member for member in info["members"]}
        unknown = sorted(set(value) - set(members))
        if unknown:
            raise StorageLayoutError(f"{where}: {info['label']} has no member {unknown[0]!r}")
        for label, member in members.items():
            if label not in value:
                raise StorageLayoutError(f"{where}: no value for member {label!r} of {info['label']}")
            self._put(
                slots,
                member["type"],
                slot + int(member["slot"]),
                int(member["offset"]),
                value[label],
                f"{where}.{label}",
            )

    def _put_elements(self, slots: dict[int, int], base: str, first: int, items: Any, where: str) -> None:
        info = self.types[base]
        size = int(info["numberOfBytes"])
        packed = info["encoding"] == "inplace" and size <= 16 and "members" not in info and "base" not in info
        for index, item in enumerate(items):
            if packed:
                per_slot = 32 // size
                slot, offset = first + index // per_slot, (index % per_slot) * size
            else:
                slot, offset = first + index * ((size + 31) // 32), 0
            self._put(slots, base, slot, offset, item, f"{where}[{index}]")

    @staticmethod
    def _put_bytes(slots: dict[int, int], slot: int, value: Any, where: str) -> None:
        if isinstance(value, str):
            data = value.encode("utf-8")
        elif isinstance(value, bytes | bytearray):
            data = bytes(value)
        else:
            raise StorageLayoutError(f"{where}: string/bytes needs str or bytes, got {type(value).__name__}")
        if len(data) < 32:
            slots[slot] = int.from_bytes(data.ljust(32, b"\0"), "big") | (2 * len(data))
            return
        slots[slot] = 2 * len(data) + 1
        start = _hash_slot(slot)
        for index in range(0, len(data), 32):
            slots[start + index // 32] = int.from_bytes(data[index : index + 32].ljust(32, b"\0"), "big")


def storage_hex(slots: Mapping[int, int]) -> dict[str, str]:
    """The genesis form: 0x-prefixed 32-byte hex slot -> 0x-prefixed 32-byte hex word."""
    return {f"0x{slot:064x}": f"0x{word:064x}" for slot, word in sorted(slots.items())}


def _hash_slot(slot: int) -> int:
    return int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")


def _as_bytes(value: Any, where: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return to_bytes(hexstr=value)
    raise StorageLayoutError(f"{where}: expected bytes or a 0x hex string, got {type(value).__name__}")


def _value_word(type_id: str, label: str, size: int, value: Any, where: str) -> int:
    """The right-aligned integer a value type occupies (before shifting to its offset)."""
    if type_id == "t_bool":
        if not isinstance(value, bool):
            raise StorageLayoutError(f"{where}: bool needs True or False")
        return int(value)
    if type_id.startswith(("t_address", "t_contract")):
        raw = _as_bytes(value, where)
        if len(raw) != 20:
            raise StorageLayoutError(f"{where}: an address has 20 bytes, got {len(raw)}")
        return int.from_bytes(raw, "big")
    if type_id.startswith(("t_uint", "t_enum")):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << (8 * size):
            raise StorageLayoutError(f"{where}: {value!r} does not fit {label}")
        return value
    if type_id.startswith("t_int"):
        if not isinstance(value, int) or not -(1 << (8 * size - 1)) <= value < 1 << (8 * size - 1):
            raise StorageLayoutError(f"{where}: {value!r} does not fit {label}")
        return value % (1 << (8 * size))
    if type_id.startswith("t_bytes") and size <= 32:
        raw = _as_bytes(value, where)
        if len(raw) > size:
            raise StorageLayoutError(f"{where}: {len(raw)} bytes do not fit {label}")
        return int.from_bytes(raw.ljust(size, b"\0"), "big")
    raise StorageLayoutError(f"{where}: value type {label} ({type_id}) is not supported")


def _mapping_key(type_id: str, info: Mapping[str, Any], key: Any, where: str) -> bytes:
    if info["encoding"] == "bytes":  # string/bytes keys are hashed unpadded
        return key.encode("utf-8") if isinstance(key, str) else _as_bytes(key, where)
    size = int(info["numberOfBytes"])
    word = _value_word(type_id, info["label"], size, key, f"{where} key")
    if type_id.startswith("t_bytes"):  # fixed bytes are left-aligned in their 32-byte key
        word <<= 8 * (32 - size)
    elif type_id.startswith("t_int"):  # signed keys are sign-extended to 32 bytes
        word = key % (1 << 256)
    return word.to_bytes(32, "big")
