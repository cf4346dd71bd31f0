"""Scratch PostgreSQL databases for the benchmarks: each run creates its own and drops it,
so a benchmark never touches a database someone works in."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def with_path(url: str, path: str) -> str:
    """The URL with another path: the same server, another database (or Redis db)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def create_database(server_url: str, name: str) -> None:
    """Create the scratch database; refuse if it exists (another run's, or one --keep left)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_path(server_url, "/postgres"), autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            raise SystemExit(
                f"Database {name} exists: another run is using it, or --keep left it. "
                f"Wait, drop it (dropdb {name}), or pass --database."
            ) from None


def drop_database(server_url: str, name: str) -> None:
    """Drop the scratch database, closing what is still connected to it (a worker's)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_path(server_url, "/postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
