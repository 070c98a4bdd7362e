// Parses Adaptive Cards with Microsoft's own library (adaptivecards on npm)
// at version 1.4, for hookrelay's tests: stdin is a JSON array of
// {name, card}, where card is a Workflows message or a bare Adaptive Card;
// stdout a JSON array of {name, problems}, every parse and validation event
// (warnings included) the library reports.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// The package's main entry is ES modules without file extensions, which
// Node cannot load; its UMD bundle is the same library.
const AC = require("adaptivecards/dist/adaptivecards.js");

const inputs = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const { name, card } of inputs) {
  const problems = [];
  let content = card;
  if (card && card.type === "message") {
    const atts = card.attachments || [];
    if (atts.length !== 1 || atts[0].contentType !== "application/vnd.microsoft.card.adaptive") {
      problems.push("a Workflows message must carry exactly one Adaptive Card attachment");
    }
    content = atts[0] && atts[0].content;
  }
  const ctx = new AC.SerializationContext(AC.Versions.v1_4);
  const parsed = new AC.AdaptiveCard();
  parsed.parse(content, ctx);
  for (let i = 0; i < ctx.eventCount; i++) {
    const e = ctx.getEventAt(i);
    problems.push(`parse: ${AC.ValidationEvent[e.event] ?? e.event}: ${e.message}`);
  }
  const results = parsed.validateProperties();
  for (let i = 0; i < results.validationEvents.length; i++) {
    const e = results.validationEvents[i];
    problems.push(`validate: ${AC.ValidationEvent[e.event] ?? e.event}: ${e.message}`);
  }
  // A card of version 1.4 or older is what a 1.4 host renders whole.
  const v = parsed.version;
  if (!v || v.major > 1 || (v.major === 1 && v.minor > 4)) {
    problems.push(`version ${v} is newer than 1.4`);
  }
  out.push({ name, problems });
}
process.stdout.write(JSON.stringify(out));
