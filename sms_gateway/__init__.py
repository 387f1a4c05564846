"""The SMS channel: Twilio's webhooks in, TwiML out, and the transports that drain
the outbox. It knows Twilio; the conversation itself lives in flows/."""
