"""Test doubles that ship with sheets-sync (install the ``testing`` extra).

:class:`FakeSheetsServer` is a local Sheets API v4 server that gspread talks to over real
HTTP; :class:`~sheets_sync.backends.memory.MemoryWorkbook` is the in-memory workbook for
engine tests where files and HTTP add nothing.
"""

from sheets_sync.testing.server import Exchange, FakeSheetsServer

__all__ = ["Exchange", "FakeSheetsServer"]
