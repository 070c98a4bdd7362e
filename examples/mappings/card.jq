# A jq mapping may also write the whole card. An Adaptive Card (bare, as here,
# or in the Workflows envelope) is sent as written to Adaptive destinations
# and converted for MessageCard ones. Strings from the payload are NOT escaped
# in a card you write yourself: prefer the intermediate form (see datadog.jq)
# for text you do not control.
{
  type: "AdaptiveCard",
  version: "1.4",
  body: [
    {type: "TextBlock", text: "\($event.source): \(.title // .name // "event")", weight: "Bolder", size: "Medium", wrap: true},
    {type: "FactSet", facts: [to_entries[] | select(.value | type == "string" or type == "number") | {title: .key, value: (.value | tostring)}][:8]}
  ],
  actions: [.url // empty | select(startswith("https://")) | {type: "Action.OpenUrl", title: "Open", url: .}]
}
