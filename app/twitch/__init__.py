"""Live Twitch rooms: the ingest's Kafka records shown as read-only rooms ``#<channel>``."""
