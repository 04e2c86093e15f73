"""Dispatch and show: alerts become tickets owned by micro-grids, dispatched to the worker on duty, escalated up
the grid on SLA timers, audited, notified, served over `/api/v1` and shown on the live board.

Start at `alerts.service.TicketService`; docs/tickets.md and docs/api.md describe the behaviour."""
