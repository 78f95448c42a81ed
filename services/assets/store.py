"""`assets.db`: the metadata of every accepted upload (the files live in storage)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from shared.assets import Asset, AssetKind
from shared.cursor import decode_cursor, encode_cursor
from shared.db import Database

COLUMNS = (
    "id, client_id, kind, mime_type, bytes, width, height, duration_s, storage_key, "
    "thumbnail_key, dominant_colors, original_name, sha256, created_at"
)


def now_ms() -> datetime:
    """Now, at the precision the database keeps, so a reply equals a later read."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def sql_time(moment: datetime) -> str:
    """The format of the schema's `NOW_SQL` default (UTC, milliseconds), which sorts."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def asset_from(row: sqlite3.Row) -> Asset:
    return Asset(
        id=row["id"],
        client_id=row["client_id"],
        kind=row["kind"],
        mime_type=row["mime_type"],
        bytes=row["bytes"],
        width=row["width"],
        height=row["height"],
        duration_s=row["duration_s"],
        key=row["storage_key"],
        thumbnail_key=row["thumbnail_key"],
        dominant_colors=json.loads(row["dominant_colors"]),
        original_name=row["original_name"],
        sha256=row["sha256"],
        created_at=row["created_at"],
    )


class AssetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, asset: Asset) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO assets (id, client_id, kind, mime_type, bytes, width, height,"
                " duration_s, storage_key, thumbnail_key, dominant_colors, original_name, sha256,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    asset.id,
                    asset.client_id,
                    asset.kind,
                    asset.mime_type,
                    asset.bytes,
                    asset.width,
                    asset.height,
                    asset.duration_s,
                    asset.key,
                    asset.thumbnail_key,
                    json.dumps(asset.dominant_colors),
                    asset.original_name,
                    asset.sha256,
                    sql_time(asset.created_at),
                ),
            )

    async def get(self, asset_id: str) -> Asset | None:
        row = await self.db.fetchone(f"SELECT {COLUMNS} FROM assets WHERE id = ?", (asset_id,))
        return asset_from(row) if row else None

    async def get_many(self, asset_ids: Sequence[str], client_id: str | None) -> list[Asset]:
        """The assets among `asset_ids` that `client_id` owns (any owner when None)."""
        marks = ", ".join("?" for _ in asset_ids)
        sql = f"SELECT {COLUMNS} FROM assets WHERE id IN ({marks})"
        params: list[str] = list(asset_ids)
        if client_id is not None:
            sql += " AND client_id = ?"
            params.append(client_id)
        return [asset_from(row) for row in await self.db.fetchall(sql, params)]

    async def page(
        self, client_id: str | None, kind: AssetKind | None, limit: int, cursor: str | None
    ) -> tuple[list[Asset], str | None]:
        """Newest first; the cursor names the last asset of the previous page
        (`shared.cursor.InvalidCursor` when it names none)."""
        where, params = [], []
        for column, value in (("client_id", client_id), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if cursor:
            created_at, asset_id = decode_cursor(cursor)
            # A range first, so the index seeks to the cursor (with the OR alone SQLite reads
            # every newer entry before it).
            where.append("created_at <= ? AND (created_at < ? OR id < ?)")
            params += [created_at, created_at, asset_id]
        sql = f"SELECT {COLUMNS} FROM assets"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        rows = await self.db.fetchall(sql, [*params, limit + 1])
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(last["created_at"], last["id"])
        return [asset_from(row) for row in rows[:limit]], next_cursor

    async def remove(self, asset_id: str, client_id: str | None) -> Asset | None:
        """Unregister the asset if `client_id` owns it (any owner when None)."""
        async with self.db.transaction() as tx:
            sql = f"SELECT {COLUMNS} FROM assets WHERE id = ?"
            params = [asset_id]
            if client_id is not None:
                sql += " AND client_id = ?"
                params.append(client_id)
            row = await tx.fetchone(sql, params)
            if row is None:
                return None
            await tx.execute("DELETE FROM assets WHERE id = ?", (asset_id,))
        return asset_from(row)
