"""The voice line: Twilio Voice webhooks that run the same flows as the SMS line.

A caller hears each step's question and answers on the keypad; `keypad` turns the keys
into the text the engine reads (a choice, a number, a pair, a PIN), `speech` renders
what the engine says as TwiML, and `routes` is the Flask blueprint between them."""
