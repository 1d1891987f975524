"""The 台账 as an Excel sheet: its template, reading a sheet, planning its import, and writing the ledger."""
