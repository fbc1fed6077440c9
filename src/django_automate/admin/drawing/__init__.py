"""Charts drawn on the server as inline SVG (no JavaScript needed to read them): run waterfalls, step graphs."""
