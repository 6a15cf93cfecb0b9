"""A/B experiments at run time: the store, the router a server uses, the review that decides."""
