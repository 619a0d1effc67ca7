"""The conversions outbox, its delivery to Meta and Google, the send job and its sensor."""
