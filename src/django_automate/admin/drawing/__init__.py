"""Charts drawn on the server as inline SVG, readable without JavaScript: dashboard, waterfalls, step graphs."""
