"""Alert delivery: webhooks (Slack-compatible and plain JSON) over urllib, e-mail over smtplib
(delivery.py), the suppression state and the undelivered record under HOKUSAI_HOME (state.py),
and one call that routes, suppresses and delivers a batch of alerts (dispatch.py)."""
