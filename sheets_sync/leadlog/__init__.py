"""The lead log (SPEC §2.1): where it lives (``sources``), how its rows are parsed
(``parse``), the columns a run works on (``columns``) and the parsed copy kept between runs
(``cache``)."""

from sheets_sync.leadlog.cache import LeadLogCache
from sheets_sync.leadlog.columns import LeadLog
from sheets_sync.leadlog.parse import parse_lead_log
from sheets_sync.leadlog.sources import load_lead_log, read_lead_log, workspace_lead_log

__all__ = ["LeadLog", "LeadLogCache", "load_lead_log", "parse_lead_log", "read_lead_log", "workspace_lead_log"]
