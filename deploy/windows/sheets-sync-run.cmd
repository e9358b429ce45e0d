@echo off
rem sheets-sync: one sync pass, started by Task Scheduler every 15 minutes
rem (docs/scheduling.md, "Windows Task Scheduler"). Copy to C:\sheets-sync\sheets-sync-run.cmd
rem and replace C:\sheets-sync\workspace (the folder holding config.yaml) and
rem C:\sheets-sync\venv (the virtualenv sheets-sync is installed in).
rem No lock needed: sheets-sync locks the workspace itself. Every run appends to
rem sheets-sync.log in the workspace; its exit code is the task's "Last Run Result":
rem 0x0 ok, 0x1 a source failed (the next run retries), 0x2 bad config (a person must fix it).
setlocal
rem Google Sheets: the service account's key (or set google.credentials in config.yaml).
rem set GOOGLE_APPLICATION_CREDENTIALS=C:\sheets-sync\credentials.json
set PYTHONUTF8=1
cd /d "C:\sheets-sync\workspace" || exit /b 2
echo %DATE% %TIME%>>sheets-sync.log
"C:\sheets-sync\venv\Scripts\sheets-sync.exe" run --config config.yaml >>sheets-sync.log 2>&1
exit /b %ERRORLEVEL%
