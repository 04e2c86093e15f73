"""The revisions, oldest first by number: `rNNNN_what.py`, each revising the one before."""
