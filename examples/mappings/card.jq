# A jq mapping may also write the whole card. An Adaptive Card (bare, as here,
# or in the Workflows envelope) is sent as written to Adaptive destinations
# and converted for MessageCard ones.
#
# Text in a card you write yourself is markup: pass every string that comes
# from the payload through adaptive_text (messagecard_text in a MessageCard),
# the escaping the built-in mappings use, so that a title like
# "<img src=x> [click](https://evil) {{DATE(…)}}" shows exactly that, never
# an image, a link or a date function. Or prefer the intermediate form (see
# datadog.jq), which hookrelay escapes for you.
{
  type: "AdaptiveCard",
  version: "1.4",
  body: ([
    {type: "TextBlock", text: ("\($event.source): \(.title // .name // "event")" | adaptive_text), weight: "Bolder", size: "Medium", wrap: true},
    ([to_entries[] | select(.value | type == "string" or type == "number") | select(.value | tostring != "")
      | {title: (.key | adaptive_text), value: (.value | adaptive_text)}][:8]
      | if length > 0 then {type: "FactSet", facts: .} else empty end)
  ]),
  actions: [.url // empty | select(type == "string" and startswith("https://")) | {type: "Action.OpenUrl", title: "Open", url: .}]
}
