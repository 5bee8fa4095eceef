"""Periodic jobs of the platform, run by ``manage.py codeq_scheduler`` (APScheduler)."""
