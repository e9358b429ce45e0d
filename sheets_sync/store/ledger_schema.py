"""The ledger's schema, written once for both stores (SPEC §4.2, §3.1).

The tables are the same text in SQLite and PostgreSQL, with three words that differ
(:class:`Dialect`): the entry number, a 64-bit integer, and the insertion order SQLite keeps
as its hidden ``rowid`` (a real column of that name in PostgreSQL, so ``ORDER BY rowid``
reads alike in both). Entry numbers are given by the writer (store/ledger_base.py), one more
than the newest: a PostgreSQL sequence would skip the numbers of a rolled-back run.

The books' rules live in the schema, not only in code, so no caller can break them:

* one live ``decision``, ``review`` and ``override`` per sale (client, lead): an entry
  voided by ``undo`` no longer counts, so the request can be decided afresh;
* the credits of a sale (approvals, reversals and undos together) stay between 0 and its
  price: no sale is credited twice, and no more is taken back than was given;
* the CHECK constraints of ``entries`` (a credit only on an approval, a reversal or undo
  names the entry it corrects).

Each rule is one condition, the same SQL in both: a SQLite trigger's ``WHEN`` and a
PL/pgSQL trigger function's ``IF``. In PostgreSQL the function first takes the ledger's
write lock (an advisory transaction lock), so two writers check and insert one after the
other, as SQLite's single writer does.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 3
WRITE_LOCK = "sheets-sync ledger writes "
"""Joined with the schema's name and hashed: the key of the advisory lock every PostgreSQL
write transaction takes (the run lock in store/lock.py has a key of its own)."""

TABLES = ("runs", "entries", "sightings", "undone_runs", "closes")

_RUNS = """
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    as_of       TEXT NOT NULL,
    timezone    TEXT NOT NULL DEFAULT ''{rowid}
);
"""

_ENTRIES = """
CREATE TABLE entries (
    seq           {seq},
    run_id        TEXT NOT NULL REFERENCES runs(run_id),
    client        TEXT NOT NULL,
    lead_id       TEXT NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('decision', 'review', 'override', 'reversal', 'adjustment', 'undo')),
    status        TEXT NOT NULL,
    rule          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    credit_cents  {integer} NOT NULL,
    credit_type   TEXT NOT NULL,
    first_seen    TEXT NOT NULL,
    decided_at    TEXT NOT NULL,
    delivered_at  TEXT NOT NULL,
    vertical      TEXT NOT NULL,
    country       TEXT NOT NULL,
    source        TEXT NOT NULL,
    campaign      TEXT NOT NULL,
    price_cents   {integer} NOT NULL CHECK (price_cents >= 0),
    refers_to     {integer} REFERENCES entries(seq),
    CHECK (kind NOT IN ('reversal', 'undo') OR refers_to IS NOT NULL),
    CHECK (credit_cents <= 0 OR status = 'Approved' OR kind IN ('undo', 'adjustment')),
    CHECK (credit_cents >= 0 OR kind IN ('reversal', 'undo', 'adjustment'))
);
CREATE INDEX entries_of_sale ON entries (client, lead_id);
"""

_SIGHTINGS = """
CREATE TABLE sightings (
    client      TEXT NOT NULL,
    pasted_key  TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    run_id      TEXT NOT NULL DEFAULT ''{rowid}
);
CREATE INDEX sightings_of_key ON sightings (client, pasted_key);
"""

_UNDONE_RUNS = """
CREATE TABLE undone_runs (run_id TEXT PRIMARY KEY);
"""

_CLOSES = """
CREATE TABLE closes (
    through     TEXT NOT NULL,
    closed_at   TEXT NOT NULL,
    last_seq    {integer} NOT NULL,
    layout      TEXT NOT NULL,
    figures     TEXT NOT NULL{rowid}
);
"""
"""Each ``close``: the weeks ending on or before ``through`` are closed; ``figures`` holds
what the weeks it froze showed (core/closing.py), under the tracking ``layout`` of the day."""

RULES = (
    ("one_live_decision",
     """NEW.kind IN ('decision', 'review', 'override') AND EXISTS (
    SELECT 1 FROM entries AS earlier
    WHERE earlier.client = NEW.client AND earlier.lead_id = NEW.lead_id AND earlier.kind = NEW.kind
      AND NOT EXISTS (SELECT 1 FROM entries AS undo WHERE undo.kind = 'undo' AND undo.refers_to = earlier.seq))""",
     "a sale can have one live decision, review and override"),
    ("credits_within_price",
     """NEW.credit_cents != 0 AND (
    SELECT COALESCE(SUM(credit_cents), 0) FROM entries WHERE client = NEW.client AND lead_id = NEW.lead_id
) + NEW.credit_cents NOT BETWEEN 0 AND NEW.price_cents""",
     "the credits of a sale must stay between 0 and its price"),
)
"""(trigger name, the condition that refuses an entry, the refusal's words)."""

ENTRY_COLUMNS = ("run_id, client, lead_id, kind, status, rule, detail, reason, credit_cents, credit_type, first_seen,"
                 " decided_at, delivered_at, vertical, country, source, campaign, price_cents, refers_to")


@dataclass(frozen=True)
class Dialect:
    """The words in which the two stores' schemas differ."""

    seq: str
    integer: str
    rowid: str

    def render(self, script: str) -> str:
        return script.format(seq=self.seq, integer=self.integer, rowid=self.rowid)

    def entries(self) -> str:
        return self.render(_ENTRIES) + self.triggers()

    def closes(self) -> str:
        return self.render(_CLOSES)

    def schema(self) -> str:
        """Every table of the current schema (``runs`` before the entries that refer to it)."""
        return self.render(_RUNS) + self.entries() + self.render(_SIGHTINGS + _UNDONE_RUNS) + self.closes()

    def triggers(self) -> str:
        raise NotImplementedError


class SqliteDialect(Dialect):
    def triggers(self) -> str:
        return "".join(f"CREATE TRIGGER {name} BEFORE INSERT ON entries\nWHEN {condition}\nBEGIN\n"
                       f"    SELECT RAISE(ABORT, '{words}');\nEND;\n" for name, condition, words in RULES)


class PostgresDialect(Dialect):
    def triggers(self) -> str:
        return "".join(f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $rule$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('{WRITE_LOCK}' || current_schema(), 0));
    IF {condition} THEN
        RAISE EXCEPTION '{words}' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $rule$;
CREATE TRIGGER {name} BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION {name}();
""" for name, condition, words in RULES)


SQLITE = SqliteDialect(seq="INTEGER PRIMARY KEY AUTOINCREMENT", integer="INTEGER", rowid="")
POSTGRES = PostgresDialect(seq="BIGINT PRIMARY KEY", integer="BIGINT",
                           rowid=",\n    rowid       BIGINT GENERATED ALWAYS AS IDENTITY")
