"""Node tables: SQLite (on-prem, one file) and DynamoDB (AWS). Both refuse, atomically, a write that does not raise
the node's sequence, so concurrent updates of one node can never lower it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from lacchain.ddns.policy import StoredNode

TREE_SEQUENCE_KEY = "#enrtree"
"""Key of the DynamoDB item / SQLite meta row holding the ENR tree's sequence number."""


class SqliteNodeStore:
    """A node table in a SQLite file (``:memory:`` for a process-local table).

    Conditional writes are single ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statements, atomic across threads
    and processes sharing the file.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        with self._lock:
            if self.path != ":memory:":
                # WAL + synchronous=NORMAL: one fsync per checkpoint, not per update; a power loss can drop the
                # last updates, which their nodes send again (with a higher sequence) on their next check.
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS nodes (
                    node_id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    host TEXT NOT NULL,
                    port INTEGER NOT NULL,
                    sequence INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    enr TEXT,
                    enr_seq INTEGER
                );
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """
            )

    _COLUMNS = "node_id, name, role, host, port, sequence, updated_at, enr"

    def get(self, node_id: str) -> StoredNode | None:
        with self._lock:
            row = self._db.execute(f"SELECT {self._COLUMNS} FROM nodes WHERE node_id = ?", (node_id,)).fetchone()
        return StoredNode(*row) if row else None

    def put(self, record: StoredNode) -> bool:
        with self._lock:
            cursor = self._db.execute(
                """
                INSERT INTO nodes (node_id, name, role, host, port, sequence, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (node_id) DO UPDATE SET
                    name = excluded.name, role = excluded.role, host = excluded.host, port = excluded.port,
                    sequence = excluded.sequence, updated_at = excluded.updated_at
                WHERE excluded.sequence > nodes.sequence
                """,
                (
                    record.node_id,
                    record.name,
                    record.role,
                    record.host,
                    record.port,
                    record.sequence,
                    record.updated_at,
                ),
            )
            return cursor.rowcount == 1

    def put_enr(self, node_id: str, enr_text: str, enr_seq: int) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE nodes SET enr = ?, enr_seq = ? WHERE node_id = ? AND (enr_seq IS NULL OR enr_seq < ?)",
                (enr_text, enr_seq, node_id, enr_seq),
            )
            return cursor.rowcount == 1

    def all(self) -> list[StoredNode]:
        with self._lock:
            rows = self._db.execute(f"SELECT {self._COLUMNS} FROM nodes ORDER BY name").fetchall()
        return [StoredNode(*row) for row in rows]

    def next_tree_sequence(self) -> int:
        with self._lock:
            row = self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, 1) "
                "ON CONFLICT (key) DO UPDATE SET value = value + 1 RETURNING value",
                (TREE_SEQUENCE_KEY,),
            ).fetchone()
        return int(row[0])

    def tree_sequence(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (TREE_SEQUENCE_KEY,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


class DynamoDbNodeStore:
    """A node table in DynamoDB: partition key ``nodeId`` (string); one extra item ``#enrtree`` holds the tree
    sequence. Writes are ``PutItem``/``UpdateItem`` with condition expressions, so the sequence check is done by
    DynamoDB itself and holds across concurrent Lambda invocations.

    ``client`` is a boto3 DynamoDB client (``boto3.client("dynamodb", endpoint_url=...)``).
    """

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    @staticmethod
    def create_table(client: Any, table: str) -> None:
        """Create the table (on-demand billing) and wait until it is active; the Pulumi component does this in
        production, tests and first-time on-prem setups call it directly."""
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "nodeId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "nodeId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    def get(self, node_id: str) -> StoredNode | None:
        item = self.client.get_item(TableName=self.table, Key={"nodeId": {"S": node_id}}, ConsistentRead=True).get(
            "Item"
        )
        return _from_item(item) if item else None

    def put(self, record: StoredNode) -> bool:
        errors = self.client.exceptions
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"nodeId": {"S": record.node_id}},
                UpdateExpression=(
                    "SET #name = :name, #role = :role, #host = :host, #port = :port, #seq = :seq, #at = :at"
                ),
                ConditionExpression="attribute_not_exists(#seq) OR #seq < :seq",
                ExpressionAttributeNames={
                    "#name": "name",
                    "#role": "role",
                    "#host": "host",
                    "#port": "port",
                    "#seq": "sequence",
                    "#at": "updatedAt",
                },
                ExpressionAttributeValues={
                    ":name": {"S": record.name},
                    ":role": {"S": record.role},
                    ":host": {"S": record.host},
                    ":port": {"N": str(record.port)},
                    ":seq": {"N": str(record.sequence)},
                    ":at": {"N": str(record.updated_at)},
                },
            )
        except errors.ConditionalCheckFailedException:
            return False
        return True

    def put_enr(self, node_id: str, enr_text: str, enr_seq: int) -> bool:
        errors = self.client.exceptions
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"nodeId": {"S": node_id}},
                UpdateExpression="SET #enr = :enr, #enrSeq = :enrSeq",
                ConditionExpression="attribute_exists(#seq) AND (attribute_not_exists(#enrSeq) OR #enrSeq < :enrSeq)",
                ExpressionAttributeNames={"#enr": "enr", "#enrSeq": "enrSeq", "#seq": "sequence"},
                ExpressionAttributeValues={":enr": {"S": enr_text}, ":enrSeq": {"N": str(enr_seq)}},
            )
        except errors.ConditionalCheckFailedException:
            return False
        return True

    def all(self) -> list[StoredNode]:
        records = []
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True):
            for item in page.get("Items", []):
                if item["nodeId"]["S"] != TREE_SEQUENCE_KEY:
                    records.append(_from_item(item))
        return sorted(records, key=lambda r: r.name)

    def next_tree_sequence(self) -> int:
        answer = self.client.update_item(
            TableName=self.table,
            Key={"nodeId": {"S": TREE_SEQUENCE_KEY}},
            UpdateExpression="ADD #value :one",
            ExpressionAttributeNames={"#value": "value"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["value"]["N"])

    def tree_sequence(self) -> int:
        item = self.client.get_item(
            TableName=self.table, Key={"nodeId": {"S": TREE_SEQUENCE_KEY}}, ConsistentRead=True
        ).get("Item")
        return int(item["value"]["N"]) if item else 0


def _from_item(item: dict[str, Any]) -> StoredNode:
    return StoredNode(
        node_id=item["nodeId"]["S"],
        name=item["name"]["S"],
        role=item["role"]["S"],
        host=item["host"]["S"],
        port=int(item["port"]["N"]),
        sequence=int(item["sequence"]["N"]),
        updated_at=int(item["updatedAt"]["N"]),
        enr=item["enr"]["S"] if "enr" in item else None,
    )
