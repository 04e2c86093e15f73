"""The rule engine: rule configuration, rule kinds, the event-time engine, persisted rule state, and the
runner that drives it in the service. Emits `rules.alert.Alert`."""
