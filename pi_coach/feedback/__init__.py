"""Feedback sinks: what the Coach decided, on the OLED, the buzzer, the console and the session log.

Every hardware sink imports its library lazily and survives the hardware being absent: it logs
once, carries on, and tries again now and then, so a screen plugged in later comes back.
"""
