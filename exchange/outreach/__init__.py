"""Outreach from templates: a letter, an e-mail or a text message to the person of a case,
in plain Dutch (or English), filled in with only what the caller's rule shows, and the
contact attempt it makes recorded on the case (``exchange.cases.service.record_attempt``).

``templates``: the texts and their placeholders (shipped, or a municipality's own under
``<data_dir>/outreach/<gemeentecode>/``), checked against the caller's rule. ``senders``: how
a message leaves (SMTP, an SMS gateway). ``service``: the case read, the filling in, the
sending and the record, in that order.
"""
