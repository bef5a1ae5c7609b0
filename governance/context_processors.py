from governance import selectors


def approvals_unread(request):
    """How many of the user's notifications are unread: the count on the nav's Approvals link, so a
    reviewer sees from any page that a request waits for them (one COUNT query per page)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"approvals_unread": selectors.notification_list(user=user).filter(read_at__isnull=True).count()}
