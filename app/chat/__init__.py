"""User rooms and the lobby: HTTP routes, Socket.IO events and the rules between them."""
