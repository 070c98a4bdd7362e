# Datadog webhook (Integrations → Webhooks). Datadog sends the JSON body you
# write in the webhook's "Payload" field, with $VARIABLES filled in; this
# mapping expects:
#
#   {"title": "$EVENT_TITLE", "body": "$EVENT_MSG", "transition": "$ALERT_TRANSITION",
#    "priority": "$ALERT_PRIORITY", "host": "$HOSTNAME", "tags": "$TAGS",
#    "url": "$LINK", "id": "$ID", "date": "$DATE"}
#
# The output is hookrelay's intermediate form; hookrelay escapes every string,
# bounds its length and renders it as a MessageCard or an Adaptive Card.
{
  title: (.title // "Datadog event"),
  subtitle: "Datadog · \(.transition // "event") · event \(.id // $event.id)",
  text: (.body // ""),
  facts: [
    {name: "Transition", value: .transition},
    {name: "Priority", value: .priority},
    {name: "Host", value: .host},
    {name: "Tags", value: .tags}
  ] | map(select(.value != null and .value != "")),
  links: [{title: "Open in Datadog", url: .url}] | map(select(.url != null)),
  severity: (
    if .transition == "Recovered" then "good"
    elif .transition == "Warn" then "warning"
    elif .transition == "Triggered" or .transition == "Re-Triggered" then "critical"
    else "info" end
  )
}
