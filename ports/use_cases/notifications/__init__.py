"""What providers tell us: notifications (webhooks) and what status queries find."""
