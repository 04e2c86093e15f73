"""One evaluator per rule kind. Each is pure: it reads messages and timer firings, keeps its own state in
plain dicts (dumped to JSON for the snapshot) and appends `Alert`s to the context's output list."""
