"""Replay evaluation: the shop replayed at a past cut time, the served lists scored against what
shoppers did next (``services.replay_shop``; ``manage.py evaluate``)."""
