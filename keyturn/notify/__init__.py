"""Telling people and systems what happened: webhooks, email, plain words.

Events are recorded by the store in the transaction of their change. From
there a background loop in every serving process fans them out into
deliveries (the outbox, in the same database) and makes the attempts, each
attempt claimed by one process; the request that caused an event never waits
for its delivery.
"""
