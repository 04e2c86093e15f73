"""Notification latency: from a ticket created to its first message handed to the channel (real SMTP)."""
